import assert from 'node:assert/strict';
import { parseTableDefinition } from '../../src/config/schema';
import { renderDmsCsv, type ChangeEvent } from '../../src/changes/producers';
import { checkChangeFile } from '../../src/formats/registry';
import { shopOrders } from './fixtures';

const base = shopOrders({ name: 'seq', type: 'bigint' }, { name: 'note', type: 'string' });
const parse = (over: Record<string, unknown> = {}) => parseTableDefinition({ ...base, ...over });
const rejects = (over: Record<string, unknown>, ...patterns: RegExp[]) =>
  assert.throws(
    () => parse(over),
    (err: Error) => {
      assert.match(err.message, /^invalid table definition shop\.orders: /);
      for (const p of patterns) assert.match(err.message, p);
      return true;
    },
  );

describe('parseTableDefinition', () => {
  it('applies defaults', () => {
    const d = parse();
    assert.equal(d.version, 1);
    assert.deepEqual(d.staging, { location: 's3://bucket/cdc/orders/', format: 'dms-csv', nullValue: '' });
    assert.deepEqual(d.cleanup, { mode: 'delete' });
    assert.equal(d.deletes, 'tombstone');
    assert.equal(d.badInput, 'fail');
    assert.deepEqual(d.schedule, { every: '1m', lag: '2m' });
    assert.deepEqual(d.batch, { maxFiles: 500, maxBytes: 512 * 1024 * 1024 });
    assert.deepEqual(d.ordering, { commitTimestamp: 'commit_ts' });
    assert.deepEqual(d.partitioning, []);
    assert.equal(d.location, undefined);
    assert.deepEqual(d.maintenance, {
      schedule: { at: '03:00', timeZone: 'UTC' },
      targetFileSize: '128MB',
      retain: { snapshots: '5d', orphans: '7d', tombstones: '7d' },
      maxRounds: 10,
    });
    assert.deepEqual(d.limits, { transientRetry: '10m', maxSubmissions: 8, blockedRetryMax: '1h', maxClockSkew: '1h' });
    assert.deepEqual(d.alerts, {});
  });

  it('refuses tombstone retention inside the late-arrival window, and malformed maintenance settings, naming each', () => {
    rejects(
      { schedule: { every: '1h', lag: '1d' }, maintenance: { retain: { tombstones: '1d' } } },
      /tombstones must be kept longer than schedule\.lag \+ schedule\.every \(1d \+ 1h\)/,
      /maintenance\.retain\.tombstones/,
    );
    rejects({ maintenance: { schedule: { at: '25:00' }, targetFileSize: '1TB' } }, /a time of day HH:MM/, /a size such as 128MB or 1GB/);
    rejects({ limits: { transientRetry: 'soon' } }, /a duration such as 30s, 5m, 2h or 7d/, /limits\.transientRetry/);
  });

  it('keeps given values and fills the rest of a partial object', () => {
    const d = parse({ schedule: { lag: '30s' }, batch: { maxFiles: 10 }, ordering: { sequence: 'seq' }, cleanup: { mode: 'retain' } });
    assert.deepEqual(d.schedule, { every: '1m', lag: '30s' });
    assert.deepEqual(d.batch, { maxFiles: 10, maxBytes: 512 * 1024 * 1024 });
    assert.deepEqual(d.ordering, { commitTimestamp: 'commit_ts', sequence: 'seq' });
    assert.deepEqual(d.cleanup, { mode: 'retain' });
  });

  it('rejects a primary key column not in columns', () => {
    rejects({ primaryKey: ['id', 'nope'] }, /primary key column nope is not in columns/, /primaryKey/);
  });

  it('rejects a sequence column not in columns', () => {
    rejects({ ordering: { sequence: 'lsn' } }, /sequence column lsn is not in columns/);
  });

  it('rejects an unknown partition column (plain and inside a transform)', () => {
    rejects({ partitioning: ['bucket(tenant, 8)'] }, /partition column tenant is not in columns/, /partitioning/);
    rejects({ partitioning: ['region'] }, /partition column region is not in columns/);
  });

  it('refuses quarantine in retain mode: a raw zone is never moved', () => {
    rejects(
      { cleanup: { mode: 'retain' }, badInput: 'quarantine' },
      /retain mode leaves every file where it is: quarantine would move files out of the raw zone \(use badInput: fail\)/,
      /badInput/,
    );
  });

  it('rejects an archive location inside the staging location', () => {
    rejects(
      { cleanup: { mode: 'archive', location: 's3://bucket/cdc/orders/archive/' } },
      /archive must lie outside the staging location/,
      /cleanup/,
    );
    assert.equal(parse({ cleanup: { mode: 'archive', location: 's3://bucket/archive/orders/' } }).cleanup.mode, 'archive');
  });

  it('rejects an identifier with upper-case letters', () => {
    assert.throws(() => parse({ table: 'Orders' }), /^Error: invalid table definition shop\.Orders: .*lower-case letters/s);
    rejects(
      {
        columns: [
          { name: 'id', type: 'bigint' },
          { name: 'Note', type: 'string' },
        ],
      },
      /lower-case letters/,
      /columns/,
    );
  });

  it('rejects a staging location without a trailing slash', () => {
    rejects({ staging: { location: 's3://bucket/cdc/orders' } }, /an s3:\/\/bucket\/prefix\/ URI ending with \//, /staging\.location/);
  });

  it('rejects duplicate columns, an unknown type and the commit timestamp listed as a column', () => {
    rejects({ columns: [...base.columns!, { name: 'id', type: 'bigint' }] }, /column names must be unique/);
    rejects({ columns: [{ name: 'id', type: 'varchar' }] }, /one of bigint, int/);
    rejects({ columns: [...base.columns!, { name: 'commit_ts', type: 'timestamp' }] }, /commit timestamp is its own file column/);
  });

  it('lists every problem at once, and names an unknown table as ?.?', () => {
    rejects({ primaryKey: ['nope'], ordering: { sequence: 'lsn' } }, /primary key column nope/, /sequence column lsn/);
    assert.throws(() => parseTableDefinition({}), /^Error: invalid table definition \?\.\?: /);
  });
});

describe('renderDmsCsv', () => {
  const def = parse({ ordering: { sequence: 'seq' } });
  const events: ChangeEvent[] = [
    { op: 'I', ts: '2024-01-01 00:00:01.000001', values: { id: 1, seq: 1, note: 'plain' } },
    { op: 'U', ts: '2024-01-01 00:00:02.000000', values: { id: 1, seq: 2, note: 'a, b' } },
    { op: 'U', ts: '2024-01-01 00:00:03.000000', values: { id: 2, seq: 3, note: 'say "hi"\nbye' } },
    { op: 'D', ts: '2024-01-01 00:00:04.000000', values: { id: 2, seq: 4, note: null } },
  ];

  it('quotes commas, quotes and newlines, and writes null as the null value', () => {
    assert.equal(
      renderDmsCsv(def, events),
      'I,2024-01-01 00:00:01.000001,1,1,plain\n' +
        'U,2024-01-01 00:00:02.000000,1,2,"a, b"\n' +
        'U,2024-01-01 00:00:03.000000,2,3,"say ""hi""\nbye"\n' +
        'D,2024-01-01 00:00:04.000000,2,4,\n',
    );
    const nullDef = parse({ staging: { location: 's3://bucket/cdc/orders/', nullValue: 'NULL' } });
    assert.equal(renderDmsCsv(nullDef, [{ op: 'D', ts: '2024-01-01 00:00:04', values: { id: 2 } }]), 'D,2024-01-01 00:00:04,2,NULL,NULL\n');
    assert.equal(renderDmsCsv(def, []), '');
  });

  it('round trip: its output passes checkChangeFile with the right row count and max commit time', async () => {
    const check = await checkChangeFile(def, 's3://bucket/cdc/orders/x.csv', renderDmsCsv(def, events));
    assert.deepEqual(check.problems, []);
    assert.equal(check.rows, 4);
    assert.equal(check.maxCommitTs, '2024-01-01 00:00:04.000000');
  });
});
