/**
 * Orchestration overhead per batch (workflow wall time minus the engine's own execution time) over N small batches,
 * and history events per batch for a 1-second and a 60-second query.
 * Prints where the time goes (bench/phases.ts).
 *   npm run bench:orchestration   (N from BENCH_BATCHES, default 25; BENCH_PERMITS=with|without for one of the two;
 *                                  BENCH_LONG_QUERY=0 skips the 60-second query)
 */
import { SlowEngine } from '../src/engines/slow';
import type { IngestResult } from '../src/shared';
import { createTable, openHarness, putChangeFile, startWorker, tableFor, uniqueName, type Harness } from '../local/harness/harness';
import { phases } from './phases';
import { median, percentile } from './stats';
import { runBench } from './run';

async function runBatches(h: Harness, taskQueue: string, count: number) {
  const def = tableFor(uniqueName('bench_orch'));
  await createTable(h, def);
  const overheads: number[] = [];
  const events: number[] = [];
  const breakdowns: Record<string, number>[] = [];
  for (let i = 0; i < count; i++) {
    await putChangeFile(h, def, `f${String(i).padStart(4, '0')}.csv`, [
      {
        op: 'I',
        ts: `2026-11-21 13:00:00.${String(i).padStart(6, '0')}`,
        values: { tenant: 'b', id: i, seq: i, name: 'x', amount: '1.00' },
      },
    ]);
    const workflowId = uniqueName('bench');
    const started = performance.now();
    const result: IngestResult = await h.client.workflow.execute('ingestBatch', {
      taskQueue,
      workflowId,
      args: [{ version: 1, table: def }],
    });
    const wall = performance.now() - started;
    const engine = result.stats?.executionMillis ?? 0;
    overheads.push(wall - engine);
    const history = (await h.client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
    events.push(history.length);
    const spent = phases(history);
    const inHistory = Object.values(spent).reduce((a, b) => a + b, 0);
    // The engine's own time is inside the activity that followed the MERGE.
    const merge = 'runMerge' in spent ? 'runMerge' : 'awaitQuery';
    breakdowns.push({ ...spent, [merge]: (spent[merge] ?? 0) - engine, 'client (start, result)': wall - inHistory });
  }
  return { overheads, events, breakdowns };
}

async function main() {
  const h = await openHarness();
  const count = Number(process.env.BENCH_BATCHES ?? 25);
  // With the engine's query permits (the default) and without (ICETIDE_ENGINE_MAX_QUERIES=0): what a permit costs.
  const modes = [
    ['with', h.deps],
    ['without', { ...h.deps, quota: undefined }],
  ] as const;
  for (const [mode, deps] of modes.filter(([mode]) => (process.env.BENCH_PERMITS ?? mode) === mode)) {
    const label = `${mode} query permits`;
    const queue = uniqueName('bench_tq');
    const worker = await startWorker(h, queue, deps);
    try {
      await runBatches(h, queue, 2); // warm-up: workflow bundle, JIT, Trino plan caches
      const { overheads, events, breakdowns } = await runBatches(h, queue, count);
      console.log(
        `${label}: orchestration overhead over ${count} batches: median ${(median(overheads) / 1000).toFixed(3)} s, p95 ${(percentile(overheads, 95) / 1000).toFixed(3)} s (goal: median <= 0.15 s); history events per batch: median ${median(events)}, max ${Math.max(...events)}`,
      );
      const names = [...new Set(breakdowns.flatMap(Object.keys))].sort();
      const where = names.map((name) => `${name} ${median(breakdowns.map((b) => b[name] ?? 0)).toFixed(0)}`);
      console.log(`  where it goes, median ms per batch (the MERGE's activity without the engine's time): ${where.join(', ')}`);
    } finally {
      await worker.stop();
    }
  }
  const eventsFor = async (delayMs: number) => {
    const q = uniqueName('bench_slow_tq');
    const w = await startWorker(h, q, {
      ...h.deps,
      engine: new SlowEngine(h.deps.engine, { queue: [0, 0], statement: [delayMs, delayMs], read: [0, 0] }),
    });
    try {
      return (await runBatches(h, q, 1)).events[0];
    } finally {
      await w.stop();
    }
  };
  if (process.env.BENCH_LONG_QUERY === '0') {
    console.log('history events for a 1-second and a 60-second query: skipped (BENCH_LONG_QUERY=0)');
    return h.close();
  }
  const short = await eventsFor(1_000);
  const long = await eventsFor(60_000);
  console.log(`history events: 1-second query ${short}, 60-second query ${long}, ratio ${(long / short).toFixed(2)} (goal: equal, <= 30)`);
  await h.close();
}

runBench(main);
