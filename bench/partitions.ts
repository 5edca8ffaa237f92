/**
 * A batch spanning 350 day partitions (applied as several MERGEs, one per slice of partitions) against the same
 * number of changes within 70 partitions (one MERGE): statements, wall time and bytes the engine read.
 *   npm run bench:partitions
 */
import type { ChangeEvent } from '../src/changes/producers';
import type { TableDefinition } from '../src/config/schema';
import type { IngestResult } from '../src/shared';
import { createTable, putChangeFile, tableFor, uniqueName, type Harness } from '../local/harness/harness';
import { runBenchWithWorker } from './run';

const CHANGES = 2_000;

async function batchOver(h: Harness, taskQueue: string, days: number): Promise<{ result: IngestResult; ms: number }> {
  const base = tableFor(uniqueName(`bench_days${days}`));
  const def: TableDefinition = tableFor(base.database, {
    columns: [...base.columns, { name: 'ordered_at', type: 'timestamp' }],
    partitioning: ['day(ordered_at)'],
  });
  await createTable(h, def);
  const day = (i: number) => new Date(Date.UTC(2025, 0, 1) + (i % days) * 86_400_000).toISOString().replace('T', ' ').replace('Z', '000');
  const events: ChangeEvent[] = Array.from({ length: CHANGES }, (_, id) => ({
    op: 'I',
    ts: '2026-11-21 10:00:00.000000',
    values: { tenant: 't', id, seq: 1, name: `order ${id}`, amount: '1.00', ordered_at: day(id) },
  }));
  await putChangeFile(h, def, 'orders.csv', events);
  const started = performance.now();
  const result: IngestResult = await h.client.workflow.execute('ingestBatch', {
    taskQueue,
    workflowId: uniqueName('bench-partitions'),
    args: [{ version: 1, table: def }],
  });
  return { result, ms: performance.now() - started };
}

runBenchWithWorker('bench_partitions_tq', async (h, taskQueue) => {
  const within = await batchOver(h, taskQueue, 70);
  const spanning = await batchOver(h, taskQueue, 350);
  const line = (label: string, { result, ms }: { result: IngestResult; ms: number }) =>
    `${label.padEnd(28)} statements ${String(result.statements ?? 1).padStart(2)} | wall ${(ms / 1000).toFixed(1).padStart(5)} s | ` +
    `engine read ${((result.stats?.scannedBytes ?? 0) / 1024).toFixed(0).padStart(6)} KiB`;
  console.log(`${CHANGES} inserts in one batch (Trino, iceberg.max-partitions-per-writer = 100)`);
  console.log(line('70 day partitions', within));
  console.log(line('350 day partitions', spanning));
  console.log(
    `ratio 350/70: wall ${(spanning.ms / within.ms).toFixed(2)}×, bytes read ` +
      `${((spanning.result.stats?.scannedBytes ?? 0) / (within.result.stats?.scannedBytes || 1)).toFixed(2)}×`,
  );
});
