/**
 * Batches under injected faults versus none, on the local stack: N one-file batches (BENCH_BATCHES, default 100)
 * into one table, first on the plain engine, then with 20% of submits and polls failing transiently and 10% of
 * successful MERGEs reported as commit conflicts (after they committed). Prints the success rate, batch time
 * (median, p95) and the overhead ratio.
 *   npm run bench:faults
 */
import type { ActivityDeps } from '../src/activities';
import type { ChangeEvent } from '../src/changes/producers';
import { ChaosEngine } from '../src/engines/chaos';
import type { IngestResult } from '../src/shared';
import { createTable, openHarness, putChangeFile, startWorker, tableFor, uniqueName, type Harness } from '../local/harness/harness';
import { seededRandom } from '../local/harness/random';
import { median, percentile } from './stats';
import { runBench } from './run';

const BATCHES = Number(process.env.BENCH_BATCHES ?? 100);

async function runBatches(h: Harness, deps: ActivityDeps) {
  const taskQueue = uniqueName('bench_faults_tq');
  const worker = await startWorker(h, taskQueue, deps);
  const def = tableFor(uniqueName('bench_faults'));
  await createTable(h, def);
  const random = seededRandom(42);
  const millis: number[] = [];
  let landed = 0;
  let resubmitted = 0;
  try {
    for (let batch = 0; batch < BATCHES; batch++) {
      const events: ChangeEvent[] = Array.from({ length: 5 }, (_, i) => ({
        op: random() < 0.2 ? 'D' : 'U',
        ts: `2026-11-23 12:${String(Math.floor(batch / 60)).padStart(2, '0')}:${String(batch % 60).padStart(2, '0')}.${String(i).padStart(6, '0')}`,
        values: { tenant: 't', id: Math.floor(random() * 50), seq: batch * 5 + i, name: `v${batch}`, amount: '1.00' },
      }));
      await putChangeFile(h, def, `${String(batch).padStart(4, '0')}.csv`, events);
      const started = performance.now();
      try {
        const result: IngestResult = await h.client.workflow.execute('ingestBatch', {
          taskQueue,
          workflowId: uniqueName('bench-faults'),
          args: [{ version: 1, table: def }],
        });
        if (result.outcome === 'merged') landed++;
        if ((result.submissions ?? 1) > 1) resubmitted++;
      } catch (err) {
        console.log(`   batch ${batch} failed: ${(err as Error).message}`);
      }
      millis.push(performance.now() - started);
    }
  } finally {
    await worker.stop();
  }
  return { landed, resubmitted, median: median(millis), p95: percentile(millis, 95) };
}

async function main() {
  const h = await openHarness();
  try {
    const clean = await runBatches(h, h.deps);
    const chaos = new ChaosEngine(h.deps.engine, { transientRate: 0.2, conflictRate: 0.1, random: seededRandom(7) });
    const faulty = await runBatches(h, { ...h.deps, engine: chaos });
    for (const [name, r] of [
      ['no faults', clean],
      ['20% transient faults + 10% conflicts', faulty],
    ] as const) {
      console.log(
        `${name}: ${r.landed}/${BATCHES} batches landed (${((100 * r.landed) / BATCHES).toFixed(0)}%), ${r.resubmitted} resubmitted; ` +
          `batch time median ${(r.median / 1000).toFixed(2)} s, p95 ${(r.p95 / 1000).toFixed(2)} s`,
      );
    }
    console.log(
      `injected: ${chaos.injected.transient} transient faults, ${chaos.injected.conflicts} conflicts; ` +
        `overhead under faults: median ${(faulty.median / clean.median).toFixed(2)}x, p95 ${(faulty.p95 / clean.p95).toFixed(2)}x`,
    );
  } finally {
    await h.close();
  }
}

runBench(main);
