/**
 * Cost scaling: bytes the engine reads to MERGE one fixed batch of 1,000 changes into targets of 100k and 1M rows
 * (goal: growth <= 1.5x), for changes spread over the whole key space and for changes to recent keys, with the
 * target partitioned by key hash (bucket) and by key range (truncate).
 *   npm run bench:cost
 */
import type { IngestResult } from '../src/shared';
import { createTable, putChangeFile, tableFor, uniqueName, type Harness } from '../local/harness/harness';
import { seededRandom } from '../local/harness/random';
import { runBenchWithWorker } from './run';

const CHANGES = 1_000;

async function mergeCost(h: Harness, taskQueue: string, layout: string, rows: number, pickId: (random: () => number) => number) {
  const def = tableFor(uniqueName(`bench_cost_${rows}`), { primaryKey: ['id'], partitioning: [layout] });
  await createTable(h, def);
  // Trino's sequence() stops at 10,000 elements: build the key space as a cross product.
  await h.trino.query(
    `INSERT INTO iceberg."${def.database}".orders ` +
      `SELECT 'c', hi * 1000 + lo, 0, 'seed', DECIMAL '1.00', '2000-01-01T00:00:00', TIMESTAMP '2000-01-01 00:00:00', false ` +
      `FROM UNNEST(sequence(0, ${rows / 1000 - 1})) AS a(hi) CROSS JOIN UNNEST(sequence(0, 999)) AS b(lo)`,
  );
  const random = seededRandom(rows);
  const events = Array.from({ length: CHANGES }, (_, i) => ({
    op: 'U' as const,
    ts: `2026-11-21 14:00:00.${String(i).padStart(6, '0')}`,
    values: { tenant: 'c', id: pickId(random), seq: i, name: 'changed', amount: '2.00' },
  }));
  await putChangeFile(h, def, 'changes.csv', events);
  const result: IngestResult = await h.client.workflow.execute('ingestBatch', {
    taskQueue,
    workflowId: uniqueName('bench-cost'),
    args: [{ version: 1, table: def }],
  });
  return { scanned: result.stats?.scannedBytes ?? 0, millis: result.stats?.executionMillis ?? 0 };
}

runBenchWithWorker('bench_cost_tq', async (h, queue) => {
  const patterns: [string, (rows: number) => (random: () => number) => number][] = [
    ['keys spread over the table', (rows) => (random) => Math.floor(random() * rows)],
    ['recent keys (newest 1%)', (rows) => (random) => rows - 1 - Math.floor(random() * rows * 0.01)],
  ];
  for (const layout of ['bucket(id, 16)', 'truncate(id, 100000)'])
    for (const [name, pattern] of patterns) {
      const small = await mergeCost(h, queue, layout, 100_000, pattern(100_000));
      const large = await mergeCost(h, queue, layout, 1_000_000, pattern(1_000_000));
      console.log(
        `${layout}, ${name}: 1,000 changes into 100k rows read ${(small.scanned / 1e6).toFixed(2)} MB (${small.millis} ms), ` +
          `into 1M rows ${(large.scanned / 1e6).toFixed(2)} MB (${large.millis} ms): growth ${(large.scanned / small.scanned).toFixed(2)}x (goal <= 1.5x)`,
      );
    }
});
