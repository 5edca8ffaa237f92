/**
 * What maintenance buys and what it costs, on the local stack:
 *  1. reads before and after one maintenance run on a table after N one-file batches (BENCH_BATCHES, default 500):
 *     files, `count(*)` and a point lookup on the current view, wall time and Trino CPU (goal: >= 5x less CPU,
 *     >= 20x fewer files);
 *  2. the cost of a maintenance run after the same batch of changes (touching one partition) into a 1M-row and a
 *     10M-row table of 10,000-key partitions: bytes the compaction read, wall time (goal: growth <= 1.5x).
 *   npm run bench:maintenance
 */
import type { ChangeEvent } from '../src/changes/producers';
import type { TableDefinition } from '../src/config/schema';
import type { IngestResult, MaintainResult } from '../src/shared';
import { createTable, putChangeFile, tableFor, uniqueName, type Harness } from '../local/harness/harness';
import { seededRandom } from '../local/harness/random';
import { median } from './stats';
import { runBenchWithWorker } from './run';

const BATCHES = Number(process.env.BENCH_BATCHES ?? 500);

/** A statement through Trino's protocol, keeping the wall time and the CPU time Trino reports for it. */
async function timed(h: Harness, sql: string): Promise<{ wallMs: number; cpuMs: number }> {
  const started = performance.now();
  const headers = { 'X-Trino-User': 'bench' };
  type Page = { nextUri?: string; error?: { message: string }; stats: { cpuTimeMillis: number } };
  let results: Page = (await (
    await fetch(`${h.config.ICETIDE_TRINO_URL}/v1/statement`, { method: 'POST', headers, body: sql })
  ).json()) as Page;
  while (results.nextUri) results = (await (await fetch(results.nextUri, { headers })).json()) as Page;
  if (results.error) throw new Error(results.error.message);
  return { wallMs: performance.now() - started, cpuMs: results.stats.cpuTimeMillis };
}

async function reads(h: Harness, def: TableDefinition) {
  const view = `iceberg."${def.database}"."${def.table}_current"`;
  const samples = { count: [] as { wallMs: number; cpuMs: number }[], lookup: [] as { wallMs: number; cpuMs: number }[] };
  for (let i = 0; i < 7; i++) {
    samples.count.push(await timed(h, `SELECT count(*) FROM ${view}`));
    samples.lookup.push(await timed(h, `SELECT * FROM ${view} WHERE tenant = 't' AND id = ${(i * 97) % 1000}`));
  }
  const [files] = await h.trino.query(
    `SELECT count_if(content = 0) AS data, count_if(content <> 0) AS deletes, count(DISTINCT "partition") AS partitions FROM iceberg."${def.database}"."${def.table}$files"`,
  );
  const med = (xs: { wallMs: number; cpuMs: number }[]) => ({
    wallMs: median(xs.map((x) => x.wallMs)),
    cpuMs: median(xs.map((x) => x.cpuMs)),
  });
  return {
    files: { data: Number(files.data), deletes: Number(files.deletes), partitions: Number(files.partitions) },
    count: med(samples.count),
    lookup: med(samples.lookup),
  };
}

const maintain = (h: Harness, taskQueue: string, def: TableDefinition): Promise<MaintainResult> =>
  h.client.workflow.execute('maintainTable', { taskQueue, workflowId: uniqueName('bench-maint'), args: [{ version: 1, table: def }] });

async function readsBeforeAndAfter(h: Harness, taskQueue: string) {
  const def = tableFor(uniqueName('bench_maint_reads'), { partitioning: ['truncate(id, 100)'] });
  await createTable(h, def);
  const random = seededRandom(500);
  for (let batch = 0; batch < BATCHES; batch++) {
    const events: ChangeEvent[] = Array.from({ length: 4 }, (_, i) => ({
      op: random() < 0.15 ? 'D' : batch < 10 ? 'I' : 'U',
      ts: `2026-11-23 ${String(Math.floor(batch / 60) % 24).padStart(2, '0')}:${String(batch % 60).padStart(2, '0')}:00.${String(i).padStart(6, '0')}`,
      values: { tenant: 't', id: Math.floor(random() * 1000), seq: batch * 4 + i, name: `v${batch}`, amount: '1.00' },
    }));
    await putChangeFile(h, def, `${String(batch).padStart(5, '0')}.csv`, events);
    const result: IngestResult = await h.client.workflow.execute('ingestBatch', {
      taskQueue,
      workflowId: uniqueName('bench-ingest'),
      args: [{ version: 1, table: def }],
    });
    if (result.outcome !== 'merged') throw new Error(`batch ${batch}: ${result.outcome}`);
  }
  const before = await reads(h, def);
  const run = await maintain(h, taskQueue, def);
  const after = await reads(h, def);
  const filesBefore = before.files.data + before.files.deletes;
  const filesAfter = after.files.data + after.files.deletes;
  console.log(
    `\n1. Reads on the current view after ${BATCHES} one-file batches (10 partitions), before → after one maintenance run (${(run.compaction.millis / 1000).toFixed(1)} s compaction):`,
  );
  console.log(
    `   files: ${before.files.data} data + ${before.files.deletes} delete → ${after.files.data} + ${after.files.deletes}  (${(filesBefore / filesAfter).toFixed(0)}x fewer; ${(filesBefore / before.files.partitions).toFixed(0)} → ${(filesAfter / after.files.partitions).toFixed(1)} per partition)`,
  );
  for (const what of ['count', 'lookup'] as const) {
    const [b, a] = [before[what], after[what]];
    console.log(
      `   ${what === 'count' ? 'count(*)    ' : 'point lookup'}: wall ${b.wallMs.toFixed(0)} → ${a.wallMs.toFixed(0)} ms (${(b.wallMs / a.wallMs).toFixed(1)}x), ` +
        `Trino CPU ${b.cpuMs} → ${a.cpuMs} ms (${(b.cpuMs / Math.max(1, a.cpuMs)).toFixed(1)}x)`,
    );
  }
}

async function costAtScale(h: Harness, taskQueue: string, rows: number) {
  const def = tableFor(uniqueName(`bench_maint_${rows}`), {
    primaryKey: ['id'],
    partitioning: ['truncate(id, 10000)'],
    maintenance: { retain: { snapshots: '0s', orphans: '0s' } },
  });
  await createTable(h, def);
  // At most 100 partitions per statement: load 1M rows (100 partitions) at a time.
  for (let start = 0; start < rows; start += 1_000_000) {
    await h.trino.query(
      `INSERT INTO iceberg."${def.database}".orders ` +
        `SELECT 'c', ${start} + hi * 1000 + lo, 0, 'seed', DECIMAL '1.00', '2000-01-01T00:00:00', TIMESTAMP '2000-01-01 00:00:00', false ` +
        `FROM UNNEST(sequence(0, 999)) AS a(hi) CROSS JOIN UNNEST(sequence(0, 999)) AS b(lo)`,
    );
  }
  await maintain(h, taskQueue, def); // the table as yesterday's maintenance left it
  const random = seededRandom(rows);
  const events: ChangeEvent[] = Array.from({ length: 1000 }, (_, i) => ({
    op: 'U',
    ts: `2026-11-23 10:00:00.${String(i).padStart(6, '0')}`,
    values: { tenant: 'c', id: 20_000 + Math.floor(random() * 10_000), seq: i, name: 'changed', amount: '2.00' },
  }));
  await putChangeFile(h, def, 'changes.csv', events);
  await h.client.workflow.execute('ingestBatch', { taskQueue, workflowId: uniqueName('bench-ingest'), args: [{ version: 1, table: def }] });
  const started = performance.now();
  const run = await maintain(h, taskQueue, def);
  return { read: run.compaction.scannedBytes, compactionMs: run.compaction.millis, wallMs: performance.now() - started, run };
}

runBenchWithWorker('bench_maint_tq', async (h, taskQueue) => {
  if (!process.env.BENCH_SKIP_READS) await readsBeforeAndAfter(h, taskQueue);
  const small = await costAtScale(h, taskQueue, 1_000_000);
  const large = await costAtScale(h, taskQueue, 10_000_000);
  console.log('\n2. One maintenance run after 1,000 changes to one 10,000-key partition:');
  for (const [name, r] of [
    ['1M rows (100 partitions)', small],
    ['10M rows (1,000 partitions)', large],
  ] as const) {
    console.log(
      `   ${name}: compaction read ${(r.read / 1e6).toFixed(2)} MB in ${r.compactionMs} ms, whole run ${(r.wallMs / 1000).toFixed(1)} s; ` +
        `partitions to compact ${r.run.compaction.before.partitionsToCompact} → ${r.run.compaction.after.partitionsToCompact}`,
    );
  }
  console.log(
    `   growth for 10x the table: bytes read ${(large.read / small.read).toFixed(2)}x, compaction time ${(large.compactionMs / small.compactionMs).toFixed(2)}x, whole run ${(large.wallMs / small.wallMs).toFixed(2)}x (goal <= 1.5x)`,
  );
});
