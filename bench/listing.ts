/**
 * Planning time against the number of objects under staging: 10 k, 100 k and 300 k one-change DMS files in date
 * folders (BENCH_OBJECTS=10000,100000 to choose). For each count, planBatch in cdc mode (a backlog: the listing stops
 * once a batch is full), in retain mode by name (a year of retained files: the listing starts after the position),
 * and in retain mode by arrival (lists everything: what every mode did before).
 *   npm run bench:listing
 * BENCH_DATABASE=<name> BENCH_LANDED=<n> reuses the objects an earlier run landed (landing 300 k takes half an hour).
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../src/activities';
import { renderChangeFile } from '../src/changes/producers';
import type { TableDefinition } from '../src/config/schema';
import type { BatchPlan } from '../src/shared';
import { parseS3Uri } from '../src/storage/staging';
import { createTable, openHarness, tableFor, uniqueName, type Harness } from '../local/harness/harness';
import { runBench } from './run';

const COUNTS = (process.env.BENCH_OBJECTS ?? '10000,100000,300000').split(',').map(Number);
const PUT_CONCURRENCY = 64;

/** The name of the i-th file: a DMS CDC file a minute apart, in yyyy/MM/dd folders (names sort by arrival). */
const fileName = (i: number): string => {
  const at = new Date(Date.UTC(2025, 0, 1) + i * 60_000).toISOString();
  return `${at.slice(0, 10).replace(/-/g, '/')}/${at.slice(0, 19).replace(/[-:]/g, '').replace('T', '-')}0000.csv`;
};

async function land(h: Harness, def: TableDefinition, from: number, to: number): Promise<void> {
  const body = renderChangeFile(def, [
    { op: 'I', ts: '2026-11-21 10:00:00.000000', values: { tenant: 't', id: 1, seq: 1, name: 'n', amount: '1.00' } },
  ]);
  let next = from;
  const lane = async () => {
    while (next < to) {
      const { bucket, key } = parseS3Uri(def.staging.location + fileName(next++));
      await h.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    }
  };
  await Promise.all(Array.from({ length: PUT_CONCURRENCY }, lane));
}

async function planMillis(h: Harness, def: TableDefinition, after?: BatchPlan['last']): Promise<{ ms: number; plan: BatchPlan }> {
  const { planBatch } = createActivities(h.deps);
  const started = performance.now();
  const plan: BatchPlan = await new MockActivityEnvironment().run(planBatch, { table: def, cutoff: Date.now(), after });
  return { ms: performance.now() - started, plan };
}

runBench(async () => {
  const h = await openHarness();
  const database = process.env.BENCH_DATABASE ?? uniqueName('bench_listing');
  console.error(`objects under s3://icetide-staging/${database}/orders/`);
  const base = tableFor(database, { staging: { location: `s3://icetide-staging/${database}/orders/` } });
  await createTable(h, base); // planning asks the engine to account for the batch's files
  const rows: string[] = [];
  let landed = Number(process.env.BENCH_LANDED ?? 0);
  for (const count of COUNTS) {
    const started = performance.now();
    await land(h, base, landed, count);
    landed = Math.max(landed, count);
    console.error(`landed ${count} objects (${((performance.now() - started) / 1000).toFixed(0)} s for the new ones)`);
    // A position 100 files before the end: a retain table that has kept up with a year of files.
    const position = { lastModified: 0, uri: base.staging.location + fileName(count - 100) };
    const cdc = await planMillis(h, base);
    const byName = await planMillis(h, { ...base, cleanup: { mode: 'retain', order: 'key' } }, position);
    const byArrival = await planMillis(h, { ...base, cleanup: { mode: 'retain', order: 'arrival' } });
    rows.push(
      `${String(count).padStart(7)} | cdc ${cdc.ms.toFixed(0).padStart(6)} ms (${cdc.plan.files.length} files) | ` +
        `retain by name ${byName.ms.toFixed(0).padStart(6)} ms (${byName.plan.files.length} files) | ` +
        `retain by arrival (full listing) ${byArrival.ms.toFixed(0).padStart(6)} ms | ` +
        `full listing / cdc ${(byArrival.ms / cdc.ms).toFixed(1)}×, / retain by name ${(byArrival.ms / byName.ms).toFixed(1)}×`,
    );
    console.log(rows.at(-1));
  }
  console.log(`\nplanBatch wall time vs objects under staging (each plan also reads the files it takes, up to 500)\n${rows.join('\n')}`);
  await h.close();
});
