import assert from 'node:assert/strict';
import { modelDefinitionSchema } from '../../src/config/models';
import type { TableDefinition } from '../../src/config/schema';
import { createS3Client } from '../../src/deps';
import { SlowEngine } from '../../src/engines/slow';
import type { IngestResult, MaintainResult } from '../../src/shared';
import { startModels } from '../../src/starters/models';
import { slowS3 } from '../../src/storage/slow-s3';
import { StagingStore } from '../../src/storage/staging';
import type { RunModelsResult } from '../../src/workflows/models';
import { currentRows, openHarness, putChangeFile, startWorker, tableFor, uniqueName, type Harness } from '../../local/harness/harness';
import { asStrings, ReferenceTable } from '../support/reference';

const COLUMNS = ['tenant', 'id', 'seq', 'name', 'amount'];

/**
 * The slow mode's representative subset, run with `npm test` (the whole e2e suite in slow mode is `npm run
 * test:slow`): one table's life on an engine where every read outlasts the steps' 15 s heartbeat timeout and every
 * statement queues, and on S3 listing two keys a page. Each step must heartbeat while it waits, or it fails.
 */
describe('slow mode: a table and a model at Athena pace (reads of 16-20 s, 2-key S3 pages)', function () {
  this.timeout(600_000);
  let h: Harness;
  let worker: { stop(): Promise<void> };
  const taskQueue = uniqueName('slow_tq');
  const def: TableDefinition = tableFor(uniqueName('slow'), { batch: { maxFiles: 10 } });
  const reference = new ReferenceTable(def.primaryKey);
  const run = <T>(workflow: string, args: unknown[]): Promise<T> =>
    h.client.workflow.execute(workflow, { taskQueue, workflowId: uniqueName(`slow-${workflow}`), args });

  before(async () => {
    h = await openHarness();
    worker = await startWorker(h, taskQueue, {
      ...h.deps,
      engine: new SlowEngine(h.deps.engine, { queue: [1000, 3000], statement: [2000, 2000], read: [16_000, 20_000] }),
      staging: new StagingStore(slowS3(createS3Client(h.config), { latency: [20, 80], page: 2 })),
    });
  });
  after(async () => {
    await worker?.stop();
    await h?.close();
  });

  it('creates the table (DDL, information_schema reads) and merges a batch listed over several pages', async () => {
    await run('ensureTable', [def]);
    for (let f = 1; f <= 5; f++) {
      const events = [1, 2, 3].map((i) => ({
        op: f > 1 && i === 2 ? ('D' as const) : ('U' as const),
        ts: `2026-11-21 10:00:0${f}.00000${i}`,
        values: { tenant: 't', id: i + f, seq: f * 10 + i, name: `n${f}-${i}`, amount: `${f}.${i}0` },
      }));
      const name = `f${f}.csv`;
      await putChangeFile(h, def, name, events);
      reference.deliver(name, events);
    }
    const result = await run<IngestResult>('ingestBatch', [{ version: 1, table: def }]);
    assert.equal(result.outcome, 'merged');
    assert.equal(result.files, 5, 'every page of the listing was read');
    assert.deepEqual(asStrings(await currentRows(h, def), COLUMNS), reference.rows(COLUMNS));
  });

  it('maintains it: the $files and $snapshots reads and the listing of its location each take longer than a heartbeat timeout', async () => {
    const result = await run<MaintainResult>('maintainTable', [{ version: 1, table: def }]);
    assert.equal(result.outcome, 'maintained');
    assert.ok(result.compaction.before.dataFiles > 0, 'it read the table files');
    assert.deepEqual(asStrings(await currentRows(h, def), COLUMNS), reference.rows(COLUMNS), 'rows unchanged');
  });

  it('builds a model over it whose data tests take longer than a heartbeat timeout, and publishes it', async () => {
    const model = modelDefinitionSchema.parse({
      database: def.database,
      name: 'totals',
      sql: `SELECT tenant, count(*) AS n FROM ${def.database}.${def.table}_current GROUP BY 1`,
      materialization: 'table',
      tests: [{ not_null: ['tenant'] }, { unique: ['tenant'] }],
      retries: 0,
    });
    const { handle } = await startModels(
      h.client,
      {
        file: 'test',
        settings: { version: 1, modelRuns: { parallelism: 1 } },
        runtime: { ...h.config, ICETIDE_TASK_QUEUE: taskQueue },
        tables: [],
        models: [model],
      },
      [],
    );
    const [report] = ((await handle.result()) as RunModelsResult).models;
    assert.equal(report.outcome, 'built', report.error);
    assert.equal(report.tests, 2);
    const rows = await h.trino.query(`SELECT tenant, n FROM iceberg.${def.database}.totals`);
    assert.deepEqual(rows, [{ tenant: 't', n: reference.rows(COLUMNS).length }]);
  });
});
