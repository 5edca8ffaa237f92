import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { createActivities } from '../activities';
import { renderDmsCsv, type ChangeEvent } from '../changes/producers';
import { loadRuntimeConfig } from '../config/runtime';
import { parseTableDefinition } from '../config/schema';
import { createActivityDeps, createS3Client } from '../deps';
import { TrinoEngine } from '../engines/trino';
import { parseS3Uri } from '../storage/staging';
import { TABLE_SEARCH_ATTRIBUTE, tableName, type IngestResult, type MaintainResult, type Watermark } from '../shared';
import { createWorker } from '../worker';
import { applyIngestSchedule } from './schedule';

/**
 * `npm run demo`: DMS-style change files land in MinIO, icetide merges them into an Iceberg table on Trino in
 * three batches through Temporal, and the table is printed. The stack stays up so the runs can be read in the UI.
 */
const orders = parseTableDefinition({
  database: 'demo',
  table: 'orders',
  staging: { location: 's3://icetide-staging/dms/public/orders/' },
  columns: [
    { name: 'id', type: 'bigint' },
    { name: 'customer', type: 'string' },
    { name: 'amount', type: 'decimal(10,2)' },
    { name: 'status', type: 'string' },
  ],
  primaryKey: ['id'],
  ordering: { commitTimestamp: 'commit_ts' },
  partitioning: ['bucket(id, 8)'],
  schedule: { every: '1m', lag: '0s' },
  // The local stack's floor is 0s: the demo's maintenance run expires the batches' snapshots at once.
  maintenance: { retain: { snapshots: '0s', orphans: '1h' } },
});

const at = (second: number) => `2026-11-21 09:00:${String(second).padStart(2, '0')}.000000`;
const change = (
  op: ChangeEvent['op'],
  second: number,
  id: number,
  customer: string | null,
  amount: number | null,
  status: string | null,
): ChangeEvent => ({
  op,
  ts: at(second),
  values: { id, customer, amount, status },
});

const batches: ChangeEvent[][][] = [
  [
    [change('I', 1, 1, 'ada', 12.5, 'new'), change('I', 2, 2, 'grace', 99.99, 'new'), change('I', 3, 3, 'alan', 5, 'new')],
    [change('U', 4, 1, 'ada', 12.5, 'paid'), change('I', 5, 4, 'edsger', 42, 'new')],
  ],
  [[change('D', 6, 3, 'alan', 5, 'new'), change('U', 7, 2, 'grace', 99.99, 'shipped'), change('U', 4, 1, 'ada', 12.5, 'paid')]],
  // A late, older update to a deleted row: the tombstone keeps order 3 deleted.
  [[change('U', 5, 3, 'alan', 6, 'paid'), change('U', 8, 4, 'edsger', 40, 'paid')]],
];

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('WARN') }); // the demo's own lines, not the worker's start-up chatter
  const config = loadRuntimeConfig();
  const s3 = createS3Client(config);
  const trino = new TrinoEngine({ url: config.ICETIDE_TRINO_URL, user: config.ICETIDE_TRINO_USER });
  const deps = createActivityDeps(config);
  const { bucket, key: prefix } = parseS3Uri(orders.staging.location);
  await s3.send(new CreateBucketCommand({ Bucket: bucket })).catch((err: Error) => {
    if (err.name !== 'BucketAlreadyOwnedByYou') throw err;
  });

  // Start from an empty table so the demo can run again and again.
  await trino.query(`DROP VIEW IF EXISTS iceberg.demo.orders_current`).catch(() => undefined);
  await trino.query(`DROP TABLE IF EXISTS iceberg.demo.orders`).catch(() => undefined);
  await createActivities(deps).ensureTable(orders);
  console.log(`created Iceberg table iceberg.demo.orders through Trino at ${config.ICETIDE_TRINO_URL}`);

  const worker = await createWorker(config, deps);
  const running = worker.run();
  const client = new Client({
    connection: await Connection.connect(config.temporal.connectionOptions),
    namespace: config.temporal.namespace,
  });
  let watermark: Watermark = { version: 1 };
  let fileNumber = 0;
  try {
    for (const [i, files] of batches.entries()) {
      for (const events of files) {
        const key = `${prefix}2026/11/21/20261121-0900${String(++fileNumber).padStart(2, '0')}.csv`;
        await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: renderDmsCsv(orders, events) }));
      }
      const result: IngestResult = await client.workflow.execute('ingestBatch', {
        taskQueue: config.ICETIDE_TASK_QUEUE,
        workflowId: `icetide:ingest:${tableName(orders)}:demo-${Date.now()}`,
        args: [{ version: 1, table: orders, watermark }],
        typedSearchAttributes: [{ key: TABLE_SEARCH_ATTRIBUTE, value: tableName(orders) }],
        staticSummary: `demo batch ${i + 1} for ${tableName(orders)}`,
      });
      watermark = result.watermark;
      console.log(
        `batch ${i + 1}: ${result.outcome}, ${result.rows} change(s) from ${result.files} file(s), query ${result.queryId}, ` +
          `engine ${result.stats?.executionMillis} ms, applied through ${watermark.appliedThrough}`,
      );
    }
    const rows = await trino.query('SELECT id, customer, amount, status FROM iceberg.demo.orders_current ORDER BY id');
    console.log('\niceberg.demo.orders_current:');
    console.table(rows);
    // Three batches left small files and position deletes behind; one maintenance run compacts them.
    const maintained: MaintainResult = await client.workflow.execute('maintainTable', {
      taskQueue: config.ICETIDE_TASK_QUEUE,
      workflowId: `icetide:maintain:${tableName(orders)}:demo-${Date.now()}`,
      args: [{ version: 1, table: orders }],
      typedSearchAttributes: [{ key: TABLE_SEARCH_ATTRIBUTE, value: tableName(orders) }],
      staticSummary: `demo maintenance of ${tableName(orders)}`,
    });
    const { before, after } = maintained.compaction;
    console.log(
      `maintenance: data files ${before.dataFiles} → ${after.dataFiles}, delete files ${before.deleteFiles} → ${after.deleteFiles}, ` +
        `snapshots ${maintained.expiry.before.snapshots} → ${maintained.expiry.after.snapshots} (retention ${orders.maintenance.retain.snapshots})`,
    );
    const scheduleId = await applyIngestSchedule(client, orders, config.ICETIDE_TASK_QUEUE);
    await client.schedule.getHandle(scheduleId).pause('demo: unpause to ingest every minute (needs `npm run worker`)');
    const query = encodeURIComponent(`IcetideTable="${tableName(orders)}"`);
    console.log(`\nTemporal UI: ${config.ICETIDE_TEMPORAL_UI}/namespaces/${config.temporal.namespace}/workflows?query=${query}`);
    console.log(`Schedule ${scheduleId} created (paused). Stop the local stack with: bash local/stack.sh down`);
  } finally {
    worker.shutdown();
    await running;
    await client.connection.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
