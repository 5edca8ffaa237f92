import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { WorkflowFailedError } from '@temporalio/client';
import type { ChangeEvent } from '../../src/changes/producers';
import type { TableDefinition } from '../../src/config/schema';
import type { IngestResult } from '../../src/shared';
import { createTable, currentRows, listUris, putChangeFile, tableFor, uniqueName } from '../../local/harness/harness';
import { useStackWithWorker } from '../support/suite';
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

  const runBatch = (def: TableDefinition): Promise<IngestResult> =>
    stack.h.client.workflow.execute('ingestBatch', {
      taskQueue: stack.taskQueue,
      workflowId: uniqueName(`ingest-${def.database}`),
      args: [{ version: 1, table: def }],
    });

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
