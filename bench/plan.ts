/**
 * planBatch throughput and the worker's peak memory for batches of 10 MB and 1 GB of change files (5 GB with
 * BENCH_LARGE=1), plain and gzipped: files are streamed and checked four at a time, so RSS should stay flat.
 *   npm run bench:plan
 */
import { gzipSync } from 'node:zlib';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../src/activities';
import { renderDmsCsv, type ChangeEvent } from '../src/changes/producers';
import type { BatchPlan } from '../src/shared';
import { openHarness, putChangeFile, tableFor, uniqueName, type Harness } from '../local/harness/harness';

const MB = 2 ** 20;
const FILE_BYTES = 32 * MB; // DMS's default CdcMaxBatchInterval/size cap makes files of this order

/** One DMS change file of about `bytes`, as text. */
function changeFile(def: ReturnType<typeof tableFor>, bytes: number): string {
  const events: ChangeEvent[] = [];
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    const event: ChangeEvent = {
      op: i % 5 === 0 ? 'D' : 'U',
      ts: `2026-11-23 10:00:00.${String(i % 1_000_000).padStart(6, '0')}`,
      values: { tenant: 'acme', id: i, seq: i, name: `customer-${i}-with-a-longer-name`, amount: `${i % 10000}.25` },
    };
    events.push(event);
    size += 90;
  }
  return renderDmsCsv(def, events);
}

async function measure(h: Harness, totalBytes: number, gzip: boolean) {
  const def = tableFor(uniqueName('bench_plan'), { batch: { maxFiles: 5000, maxBytes: 8 * 1024 * MB } });
  const fileBytes = Math.min(FILE_BYTES, totalBytes);
  const text = changeFile(def, fileBytes);
  const body = gzip ? gzipSync(text) : Buffer.from(text);
  const files = Math.max(1, Math.round(totalBytes / fileBytes));
  for (let i = 0; i < files; i++) await putChangeFile(h, def, `f${String(i).padStart(5, '0')}.csv${gzip ? '.gz' : ''}`, body);
  global.gc?.();
  const baseline = process.memoryUsage().rss;
  let peak = baseline;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  const started = performance.now();
  const plan: BatchPlan = await new MockActivityEnvironment().run(createActivities(h.deps).planBatch, {
    table: def,
    cutoff: Date.now() + 60_000,
  });
  const seconds = (performance.now() - started) / 1000;
  clearInterval(sampler);
  const textMB = (Buffer.byteLength(text) * files) / MB;
  console.log(
    `${(textMB / 1024 >= 1 ? `${(textMB / 1024).toFixed(1)} GB` : `${textMB.toFixed(0)} MB`).padStart(7)} ${gzip ? 'gzip ' : 'plain'} ` +
      `(${files} file(s), ${(plan.rows / 1e6).toFixed(2)}M rows): ${seconds.toFixed(1)} s, ${(textMB / seconds).toFixed(0)} MB/s of CSV, ` +
      `peak RSS ${(peak / MB).toFixed(0)} MB (+${((peak - baseline) / MB).toFixed(0)} MB over the idle process)`,
  );
}

async function main() {
  const h = await openHarness();
  try {
    const sizes = [10 * MB, 1024 * MB, ...(process.env.BENCH_LARGE ? [5 * 1024 * MB] : [])];
    for (const size of sizes) for (const gzip of [false, true]) await measure(h, size, gzip);
  } finally {
    await h.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
