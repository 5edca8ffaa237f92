import assert from 'node:assert/strict';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { WorkflowFailedError } from '@temporalio/client';
import { renderDynamoDbExport, renderDynamoDbIncrementalExport, type ChangeEvent } from '../../src/changes/producers';
import type { TableDefinition } from '../../src/config/schema';
import type { IngestResult, Watermark } from '../../src/shared';
import { quarantineLocation } from '../../src/activities';
import { parseS3Uri } from '../../src/storage/staging';
import { createTable, listUris, tableFor, uniqueName, type Harness } from '../../local/harness/harness';
import { useStackWithWorker } from '../support/suite';

type Row = ChangeEvent['values'];
const exportsTable = (database: string, kind: 'snapshot' | 'append' | 'cdc', badInput: 'fail' | 'quarantine' = 'fail'): TableDefinition =>
  tableFor(database, {
    kind,
    badInput,
    staging: { location: `s3://icetide-staging/${database}/exports/`, format: 'dynamodb-export' },
    columns: [
      { name: 'id', type: 'bigint', field: 'orderId' },
      { name: 'customer', type: 'string' },
      { name: 'total', type: 'decimal(10,2)' },
    ],
    primaryKey: ['id'],
    ordering: {},
    partitioning: ['bucket(id, 4)'],
  });

const rows = (from: number, to: number, total = (id: number) => `${id}.00`): Row[] =>
  Array.from({ length: to - from + 1 }, (_, i) => ({ id: from + i, customer: `c${(from + i) % 7}`, total: total(from + i) }));

/** Lands an export the way DynamoDB does: data files, then the manifests, the summary last. */
async function landExport(
  h: Harness,
  def: TableDefinition,
  exportId: string,
  exportTime: string,
  content: Row[] | ChangeEvent[],
  skip: string[] = [],
) {
  const objects =
    content.length && 'op' in content[0]
      ? renderDynamoDbIncrementalExport(def, content as ChangeEvent[], { exportId, exportTime, dataFiles: 2 })
      : renderDynamoDbExport(def, content as Row[], { exportId, exportTime, dataFiles: 3 });
  await putObjects(h, def, objects, skip);
}

async function putObjects(h: Harness, def: TableDefinition, objects: { key: string; body: Buffer | string }[], skip: string[] = []) {
  for (const { key, body } of objects) {
    if (skip.some((s) => key.endsWith(s))) continue;
    const { bucket, key: prefix } = parseS3Uri(def.staging.location);
    await h.s3.send(new PutObjectCommand({ Bucket: bucket, Key: prefix + key, Body: body }));
  }
}

/** The live rows, in one string that tells two contents apart. */
const fingerprint = (content: Row[]) =>
  content
    .map((r) => `${r.id}:${r.customer}:${r.total}`)
    .sort()
    .join(',');

describe('table kinds on the local stack: snapshot and append from DynamoDB exports', function () {
  this.timeout(300_000);
  const stack = useStackWithWorker('kinds_tq');

  /** One batch; `watermark` is where the previous one left off, as a schedule passes it on. */
  const runBatch = (def: TableDefinition, watermark?: Watermark): Promise<IngestResult> =>
    stack.h.client.workflow.execute('ingestBatch', {
      taskQueue: stack.taskQueue,
      workflowId: uniqueName(`kinds-${def.database}`),
      args: [{ version: 1, table: def, watermark }],
    });
  const tableFingerprint = async (def: TableDefinition): Promise<string> => {
    const [row] = await stack.h.trino.query(
      `SELECT coalesce(array_join(array_sort(array_agg(format('%s:%s:%s', id, customer, total))), ','), '') AS f FROM iceberg."${def.database}".orders_current`,
    );
    return String(row.f);
  };

  it('snapshot: each export replaces the contents atomically; a reader in a loop never fails and never sees a mixture', async () => {
    const def = exportsTable(uniqueName('snapshot'), 'snapshot');
    await createTable(stack.h, def);
    const exports: { id: string; time: string; content: Row[] }[] = [
      { id: '01700000000000-aaaa0001', time: '2026-11-21T03:00:00.000Z', content: rows(1, 50) },
      // rows 41-50 removed, 51-60 added, 1-5 changed
      {
        id: '01700000000000-aaaa0002',
        time: '2026-11-22T03:00:00.123Z',
        content: [...rows(1, 5, (id) => `${id}.50`), ...rows(6, 40), ...rows(51, 60)],
      },
      // everything but 10 rows removed, one re-added (41), one changed back
      { id: '01700000000000-aaaa0003', time: '2026-11-23T03:00:00.000Z', content: [...rows(1, 9), ...rows(41, 41)] },
    ];
    const allowed = new Set(['', ...exports.map((e) => fingerprint(e.content))]);
    let reads = 0;
    let readerDone = false;
    const seen = new Set<string>();
    const reader = (async () => {
      while (!readerDone) {
        const f = await tableFingerprint(def); // a failed read fails the test
        assert.ok(allowed.has(f), `a reader saw a mixture: ${f.slice(0, 200)}`);
        seen.add(f);
        reads++;
      }
    })();
    try {
      for (const e of exports) {
        await landExport(stack.h, def, e.id, e.time, e.content);
        const result = await runBatch(def);
        assert.equal(result.outcome, 'merged');
        assert.equal(result.rows, e.content.length);
        assert.equal(await tableFingerprint(def), fingerprint(e.content), `the table is exactly export ${e.id}`);
        assert.deepEqual(await listUris(stack.h, def.staging.location), [], 'the whole export folder is cleaned up');
      }
    } finally {
      readerDone = true;
      await reader;
    }
    assert.ok(reads > 3 && seen.size >= 3, `the reader ran during the swaps (${reads} reads, ${seen.size} contents)`);

    // A replayed older export changes nothing: its rows and its absences are older than the table's.
    await landExport(stack.h, def, exports[0].id, exports[0].time, exports[0].content);
    assert.equal((await runBatch(def)).outcome, 'merged');
    assert.equal(await tableFingerprint(def), fingerprint(exports[2].content), 'a replayed older export changes nothing');
  });

  it('snapshot: an export that arrives after a newer one was merged changes nothing, whether or not the newer changed a row', async () => {
    const def = exportsTable(uniqueName('late'), 'snapshot');
    await createTable(stack.h, def);
    const e1 = { id: '01700000000000-eeee0001', time: '2026-11-21T03:00:00Z', content: rows(1, 2) };
    const e2 = { id: '01700000000000-eeee0002', time: '2026-11-22T03:00:00Z', content: rows(1, 1) };
    const e3 = { id: '01700000000000-eeee0003', time: '2026-11-23T03:00:00Z', content: rows(1, 2) };
    await landExport(stack.h, def, e1.id, e1.time, e1.content);
    const first = await runBatch(def);
    // E3 holds what E1 held: no row changes, so no row carries E3's time; only the watermark knows E3 was merged.
    await landExport(stack.h, def, e3.id, e3.time, e3.content);
    const newest = await runBatch(def, first.watermark);
    assert.equal(newest.watermark.appliedThrough, '2026-11-23 03:00:00.000000');
    await landExport(stack.h, def, e2.id, e2.time, e2.content);
    const late = await runBatch(def, newest.watermark);
    assert.equal(late.outcome, 'idle');
    assert.deepEqual(late.superseded, [`${def.staging.location}AWSDynamoDB/${e2.id}/manifest-summary.json`]);
    assert.equal(late.watermark.appliedThrough, newest.watermark.appliedThrough, 'the watermark does not move back');
    assert.equal(await tableFingerprint(def), fingerprint(e3.content), 'key 2, in the newest export, is still there');
    assert.deepEqual(await listUris(stack.h, def.staging.location), [], 'the late export is cleaned up');

    // Without the watermark (a new schedule), the table's versions decide: a newer export that changed a row
    // (here: added key 3) outranks every older one, even where the older one would delete an unchanged row.
    const e4 = { id: '01700000000000-eeee0004', time: '2026-11-25T03:00:00Z', content: rows(1, 3) };
    await landExport(stack.h, def, e4.id, e4.time, e4.content);
    await runBatch(def);
    await landExport(stack.h, def, '01700000000000-eeee0005', '2026-11-24T03:00:00Z', rows(1, 1));
    assert.equal((await runBatch(def)).outcome, 'merged');
    assert.equal(await tableFingerprint(def), fingerprint(e4.content), 'an older export deletes nothing the newer one holds');
  });

  it('snapshot: an export without its summary is not taken; one missing a data file fails naming it, and nothing changes', async () => {
    const def = exportsTable(uniqueName('partial'), 'snapshot');
    await createTable(stack.h, def);
    await landExport(stack.h, def, '01700000000000-bbbb0001', '2026-11-21T03:00:00Z', rows(1, 10), ['manifest-summary.json']);
    const idle = await runBatch(def);
    assert.equal(idle.outcome, 'idle', 'an export still being written is left alone');
    assert.equal(idle.ignoredFiles, 0, 'its data files are not strays');

    await landExport(stack.h, def, '01700000000000-bbbb0002', '2026-11-22T03:00:00Z', rows(1, 10), ['-1.json.gz']);
    const err = await runBatch(def).catch((e: unknown) => e);
    assert.ok(err instanceof WorkflowFailedError);
    const message = String((err.cause?.cause as Error | undefined)?.message ?? err.cause?.message);
    assert.match(
      message,
      new RegExp(
        `table ${def.database}\\.orders: change file \\S+/AWSDynamoDB/01700000000000-bbbb0002/manifest-summary.json has bad rows, nothing was merged: data file \\S+-1\\.json\\.gz: is missing`,
      ),
    );
    assert.equal(await tableFingerprint(def), '', 'nothing merged');
  });

  it('snapshot, quarantine: an export with a bad item is set aside whole, data files before the summary; the table is untouched', async () => {
    const def = exportsTable(uniqueName('quarantine'), 'snapshot', 'quarantine');
    await createTable(stack.h, def);
    const id = '01700000000000-ffff0001';
    await landExport(stack.h, def, id, '2026-11-21T03:00:00Z', [...rows(1, 5), { id: 6, customer: 'c6', total: 'lots' }]);
    const landed = await listUris(stack.h, def.staging.location);
    const result = await runBatch(def);
    assert.equal(result.outcome, 'idle');
    assert.deepEqual(
      result.quarantined.map((q) => q.uri),
      [`${def.staging.location}AWSDynamoDB/${id}/manifest-summary.json`],
    );
    assert.match(result.quarantined[0].problem, /column total: not a decimal\(10,2\)/);
    assert.deepEqual(await listUris(stack.h, def.staging.location), [], 'no data file is left behind in staging');
    assert.deepEqual(
      await listUris(stack.h, quarantineLocation(def)),
      landed.map((uri) => quarantineLocation(def) + uri.slice(def.staging.location.length)),
    );
    assert.equal(await tableFingerprint(def), '');
  });

  it('append: a daily full export adds only the new items; a replayed export adds nothing', async () => {
    const def = exportsTable(uniqueName('append'), 'append');
    await createTable(stack.h, def);
    await landExport(stack.h, def, '01700000000000-cccc0001', '2026-11-21T03:00:00Z', rows(1, 20));
    await runBatch(def);
    await landExport(stack.h, def, '01700000000000-cccc0002', '2026-11-22T03:00:00Z', rows(1, 30));
    await runBatch(def);
    assert.equal(await tableFingerprint(def), fingerprint(rows(1, 30)));
    const filesSql = `SELECT count(*) AS files FROM iceberg."${def.database}"."orders$files"`;
    const [before] = await stack.h.trino.query(filesSql);
    await landExport(stack.h, def, '01700000000000-cccc0002', '2026-11-22T03:00:00Z', rows(1, 30));
    await runBatch(def);
    assert.equal(await tableFingerprint(def), fingerprint(rows(1, 30)), 'a replayed export adds nothing');
    assert.deepEqual(await stack.h.trino.query(filesSql), [before], 'and writes no file');
  });

  it('cdc from exports: a full export, then an incremental one (updates, deletes, inserts at their write times); a replay changes nothing', async () => {
    const def = exportsTable(uniqueName('incremental'), 'cdc');
    await createTable(stack.h, def);
    await landExport(stack.h, def, '01700000000000-dddd0001', '2026-11-21T03:00:00Z', rows(1, 10));
    assert.equal((await runBatch(def)).outcome, 'merged');
    const change = (op: ChangeEvent['op'], id: number, total: string | null, second: number): ChangeEvent => ({
      op,
      ts: `2026-11-21 04:00:${String(second).padStart(2, '0')}.000000`,
      values: { id, customer: `c${id % 7}`, total },
    });
    const changes = [change('U', 2, '2.99', 1), change('D', 3, null, 2), change('I', 11, '11.00', 3)];
    await landExport(stack.h, def, '01700000000000-dddd0002', '2026-11-21T04:05:00Z', changes);
    const result = await runBatch(def);
    assert.equal(result.watermark.appliedThrough, '2026-11-21 04:00:03.000000', 'applied through the newest write time');
    const expected = [
      ...rows(1, 10)
        .filter((r) => r.id !== 3)
        .map((r) => (r.id === 2 ? { ...r, total: '2.99' } : r)),
      ...rows(11, 11),
    ];
    assert.equal(await tableFingerprint(def), fingerprint(expected));
    await landExport(stack.h, def, '01700000000000-dddd0002', '2026-11-21T04:05:00Z', changes);
    await runBatch(def);
    assert.equal(await tableFingerprint(def), fingerprint(expected), 'a replayed incremental export changes nothing');

    // A quiet window: an incremental export with no item is taken and cleaned up; the table and watermark stay.
    const quiet = renderDynamoDbIncrementalExport(def, [], { exportId: '01700000000000-dddd0003', exportTime: '2026-11-21T05:05:00Z' });
    await putObjects(stack.h, def, quiet);
    const empty = await runBatch(def, result.watermark);
    assert.equal(empty.outcome, 'merged');
    assert.equal(empty.rows, 0);
    assert.equal(empty.watermark.appliedThrough, result.watermark.appliedThrough, 'no change applied: the watermark stays');
    assert.equal(await tableFingerprint(def), fingerprint(expected));
    assert.deepEqual(await listUris(stack.h, def.staging.location), [], 'the empty export is cleaned up: it blocks nothing behind it');
  });
});
