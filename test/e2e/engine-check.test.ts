import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { WorkflowFailedError } from '@temporalio/client';
import type { ChangeEvent } from '../../src/changes/producers';
import type { TableDefinition } from '../../src/config/schema';
import { createTable, currentRows, listUris, putChangeFile, tableFor, uniqueName } from '../../local/harness/harness';
import { ingestOnce, useStackWithWorker } from '../support/suite';
import { asStrings, ReferenceTable } from '../support/reference';

const COLUMNS = ['tenant', 'id', 'seq', 'name', 'amount'];
const failureMessage = (err: unknown): string => {
  assert.ok(err instanceof WorkflowFailedError);
  return String((err.cause?.cause as Error | undefined)?.message ?? err.cause?.message);
};

/** The engine is the judge of a batch: it must read every listed file before anything is merged or deleted. */
describe('the engine accounts for every file of a batch (Trino + MinIO + Temporal)', function () {
  this.timeout(300_000);
  const stack = useStackWithWorker('enginecheck_tq');

  const runBatch = (def: TableDefinition) => ingestOnce(stack, def);

  const insert = (id: number, ts: string): ChangeEvent => ({
    op: 'I',
    ts,
    values: { tenant: 't', id, seq: id, name: `n${id}`, amount: '1.00' },
  });

  it('a listed file the engine cannot see fails the batch by name; nothing is merged or deleted', async () => {
    const def = tableFor(uniqueName('unseen'));
    await createTable(stack.h, def);
    // The staging table reads another folder than the one icetide lists: what a Hive catalog without
    // hive.recursive-directories=true does to files in sub-folders (the shared Trino reads sub-folders).
    await putChangeFile(stack.h, def, 'elsewhere/readme.txt', 'not a change file');
    await stack.h.trino.query(`DROP TABLE hive."${def.database}"."orders__cdc"`);
    await stack.h.trino.query(
      `CREATE TABLE hive."${def.database}"."orders__cdc" (op varchar, commit_ts varchar, tenant varchar, id varchar, seq varchar, name varchar, amount varchar) ` +
        `WITH (external_location = '${def.staging.location}elsewhere/', format = 'CSV')`,
    );
    const file = await putChangeFile(stack.h, def, '20261121-100000.csv', [insert(1, '2026-11-21 10:00:00.000000')]);
    await assert.rejects(runBatch(def), (err: unknown) => {
      const message = failureMessage(err);
      assert.match(message, new RegExp(`table ${def.database}\\.orders: the engine did not read every listed change file`));
      assert.ok(message.includes(`${file}: listed with 1 record, but the engine read nothing of it`), message);
      assert.match(message, /hive\.recursive-directories=true/);
      return true;
    });
    assert.ok((await listUris(stack.h, def.staging.location)).includes(file), 'the unread file is still in staging');
    assert.deepEqual(await currentRows(stack.h, def), []);
  });

  it('a file without records (a gzip of nothing) is accounted for though the engine reads no row of it', async () => {
    const def = tableFor(uniqueName('empty'));
    await createTable(stack.h, def);
    const events = [insert(1, '2026-11-21 10:00:00.000000')];
    await putChangeFile(stack.h, def, '20261121-100000.csv', events);
    await putChangeFile(stack.h, def, '20261121-100100.csv.gz', gzipSync(''));
    const result = await runBatch(def);
    assert.equal(result.outcome, 'merged');
    assert.equal(result.files, 2);
    const reference = new ReferenceTable(def.primaryKey);
    reference.deliver('20261121-100000.csv', events);
    assert.deepEqual(asStrings(await currentRows(stack.h, def), COLUMNS), reference.rows(COLUMNS));
    assert.deepEqual(await listUris(stack.h, def.staging.location), []);
  });
});

/** What the MERGE would refuse or misread is decided by the engine that merges, with the MERGE's own conversions. */
describe('the engine decides which changes are valid (Trino + MinIO + Temporal)', function () {
  this.timeout(300_000);
  const stack = useStackWithWorker('enginevalid_tq');

  const withScore = (name: string) =>
    tableFor(uniqueName(name), {
      columns: [
        { name: 'tenant', type: 'string' },
        { name: 'id', type: 'bigint' },
        { name: 'seq', type: 'bigint' },
        { name: 'score', type: 'double' },
      ],
    });

  it('a value the engine does not convert is refused by column and count, though JavaScript reads it as a number', async () => {
    const def = withScore('hexscore');
    await createTable(stack.h, def);
    // Number('0x10') is 16; the engine's CAST to double refuses it. Before, the worker passed it and the MERGE failed.
    const good = await putChangeFile(stack.h, def, '20261121-100000.csv', 'I,2026-11-21 10:00:00,t,1,1,2.5\n');
    const bad = await putChangeFile(
      stack.h,
      def,
      '20261121-100100.csv',
      'I,2026-11-21 10:01:00,t,2,2,3.5\nI,2026-11-21 10:01:01,t,3,3,0x10\n',
    );
    await assert.rejects(ingestOnce(stack, def), (err: unknown) => {
      const message = failureMessage(err);
      assert.ok(
        message.includes(`change file ${bad} has bad rows, nothing was merged: column score: 1 value that does not convert to double`),
        message,
      );
      assert.ok(!message.includes('0x10'), 'the problem never quotes the value');
      return true;
    });
    assert.deepEqual(await listUris(stack.h, def.staging.location), [good, bad]);
    assert.deepEqual(await currentRows(stack.h, def), []);
  });

  it('a quoted field across lines, which the engine reads as two short rows, is refused rather than merged misread', async () => {
    const def = tableFor(uniqueName('multiline'));
    await createTable(stack.h, def);
    const file = await putChangeFile(stack.h, def, '20261121-100000.csv', 'I,2026-11-21 10:00:00,t,1,1,"two\nlines",1.00\n');
    await assert.rejects(ingestOnce(stack, def), (err: unknown) => {
      const message = failureMessage(err);
      assert.ok(message.includes(`change file ${file} has bad rows, nothing was merged`), message);
      assert.match(message, /fewer fields than the definition has/);
      return true;
    });
    assert.deepEqual(await listUris(stack.h, def.staging.location), [file]);
    assert.deepEqual(await currentRows(stack.h, def), []);
  });

  it('in quarantine mode only the file the engine refused is set aside; the rest is merged with the engine figures', async () => {
    const def = withScore('quarantined');
    const quarantining = { ...def, badInput: 'quarantine' as const };
    await createTable(stack.h, quarantining);
    const events = [1, 2, 3].map((id) => ({
      op: 'I' as const,
      ts: `2026-11-21 10:00:0${id}.000000`,
      values: { tenant: 't', id, seq: id, score: id / 2 },
    }));
    await putChangeFile(stack.h, quarantining, '20261121-100000.csv', events);
    const bad = await putChangeFile(stack.h, quarantining, '20261121-100100.csv', 'I,2026-11-21 10:01:00,t,9,9,0b11\n');
    const result = await ingestOnce(stack, quarantining);
    assert.equal(result.outcome, 'merged');
    assert.equal(result.files, 1);
    assert.equal(result.rows, 3, 'the rows the engine counted');
    assert.deepEqual(
      result.quarantined.map((q) => q.uri),
      [bad],
    );
    const reference = new ReferenceTable(def.primaryKey);
    reference.deliver('20261121-100000.csv', events);
    assert.deepEqual(
      asStrings(await currentRows(stack.h, def), ['tenant', 'id', 'seq', 'score']),
      reference.rows(['tenant', 'id', 'seq', 'score']),
    );
    assert.deepEqual(await listUris(stack.h, def.staging.location), []);
  });
});

describe('ordering as the source had it (Trino + MinIO + Temporal)', function () {
  this.timeout(300_000);
  const stack = useStackWithWorker('ordering_tq');

  const runBatch = (def: TableDefinition) => ingestOnce(stack, def);
  const change = (op: ChangeEvent['op'], ts: string, id: number, seq: string, name: string | null): ChangeEvent => ({
    op,
    ts: `2026-11-21 ${ts}.000000`,
    values: { tenant: 't', id, seq, name, amount: name === null ? null : '1.00' },
  });

  it('full-load rows rank below CDC, string sequences compare as numbers, a re-dropped file rewrites nothing', async () => {
    // AR_H_CHANGE_SEQ-like sequences do not fit a bigint: a string column holding digits.
    const base = tableFor(uniqueName('order'));
    const def = tableFor(base.database, { columns: base.columns.map((c) => (c.name === 'seq' ? { ...c, type: 'string' } : c)) });
    await createTable(stack.h, def);
    const reference = new ReferenceTable(def.primaryKey);
    const files: Record<string, ChangeEvent[]> = {
      // The full load transferred its rows at 10:05, after changes that committed during the load (10:01).
      'LOAD00000001.csv': [change('I', '10:05:00', 1, '1', 'load'), change('I', '10:05:00', 2, '2', 'load-only')],
      '20261121-100100.csv': [
        change('U', '10:01:00', 1, '5', 'cdc-during-load'),
        change('U', '10:02:00', 3, '10', 'ten'),
        change('U', '10:02:00', 3, '9', 'nine'),
        change('D', '10:03:00', 4, '11', null),
        change('I', '10:03:00', 4, '12', 'reinserted'),
      ],
    };
    for (const [name, events] of Object.entries(files)) {
      await putChangeFile(stack.h, def, name, events);
      reference.deliver(name, events);
    }
    assert.equal((await runBatch(def)).outcome, 'merged');
    const expected = reference.rows(COLUMNS);
    assert.deepEqual(asStrings(await currentRows(stack.h, def), COLUMNS), expected);
    assert.deepEqual(
      expected.map((r) => r.name),
      ['cdc-during-load', 'load-only', 'ten', 'reinserted'],
      'the reference itself follows the rule',
    );

    // The same files landed again under another folder (a re-drop, a manual copy): the same changes, no rewrite.
    for (const [name, events] of Object.entries(files)) await putChangeFile(stack.h, def, `redrop/${name}`, events);
    const again = await runBatch(def);
    assert.equal(again.outcome, 'merged');
    assert.equal(again.files, 2);
    assert.equal(again.updatedRows, 0, 'a change delivered twice is the same version wherever its file lies');
    assert.deepEqual(asStrings(await currentRows(stack.h, def), COLUMNS), expected);
  });

  it('changes of one key tied on commit time in one file, with no sequence, are refused by file; a duplicate is no tie', async () => {
    const def = tableFor(uniqueName('ties'), { ordering: { commitTimestamp: 'commit_ts' } });
    await createTable(stack.h, def);
    const at = '2026-11-21 10:00:00.000000';
    const row = (op: ChangeEvent['op'], name: string): ChangeEvent => ({
      op,
      ts: at,
      values: { tenant: 't', id: 1, seq: 1, name, amount: '1.00' },
    });
    // The same change delivered twice in a file, and a change of another key: no tie.
    const other: ChangeEvent = { op: 'I', ts: at, values: { tenant: 't', id: 2, seq: 2, name: 'n2', amount: '1.00' } };
    await putChangeFile(stack.h, def, '20261121-095900.csv', [row('I', 'first'), row('I', 'first'), other]);
    assert.equal((await runBatch(def)).outcome, 'merged');
    // A delete and a re-insert in one transaction: which came last is not in the file.
    const tied = await putChangeFile(stack.h, def, '20261121-100000.csv', [row('D', 'first'), row('I', 'marker-4711')]);
    await assert.rejects(runBatch(def), (err: unknown) => {
      const message = failureMessage(err);
      assert.ok(message.includes(`${tied} at 2026-11-21 10:00:00.000000: 1 key(s)`), message);
      assert.match(message, /nothing orders them .* set ordering\.sequence to the AR_H_CHANGE_SEQ column of DMS/);
      assert.ok(!message.includes('marker-4711'), 'no row value in the message');
      return true;
    });
    assert.ok((await listUris(stack.h, def.staging.location)).includes(tied), 'the file stays in staging');
    assert.deepEqual(asStrings(await currentRows(stack.h, def), ['id', 'name']), [
      { id: '1', name: 'first' },
      { id: '2', name: 'n2' },
    ]);
  });

  it('a commit time beyond the worker clock plus limits.maxClockSkew is bad input, named by file and line', async () => {
    const def = tableFor(uniqueName('future'), { limits: { maxClockSkew: '1h' } });
    await createTable(stack.h, def);
    const far = new Date(Date.now() + 2 * 3_600_000).toISOString().replace('T', ' ').replace('Z', '000');
    const file = await putChangeFile(stack.h, def, '20261121-100000.csv', [
      { op: 'I', ts: '2026-11-21 10:00:00.000000', values: { tenant: 't', id: 1, seq: 1, name: 'a', amount: '1.00' } },
      { op: 'U', ts: far, values: { tenant: 't', id: 1, seq: 2, name: 'forged', amount: '1.00' } },
    ]);
    await assert.rejects(runBatch(def), (err: unknown) => {
      const message = failureMessage(err);
      assert.ok(message.includes(`change file ${file} has bad rows`), message);
      assert.match(message, /line 2: commit time more than 1h \(limits\.maxClockSkew\) ahead of the worker's clock/);
      assert.ok(!message.includes(far.slice(0, 16)), 'the problem never quotes the value');
      return true;
    });
    assert.deepEqual(await currentRows(stack.h, def), []);
  });
});
