/**
 * planBatch throughput and the worker's peak memory for batches of 10 MB and 1 GB of change files (5 GB with
 * BENCH_LARGE=1), DMS CSV plain and gzipped and Debezium JSON gzipped. Files are landed by this process; each batch
 * is then planned in a child process of its own, whose peak RSS (getrusage maxrss) is the worker's cost alone.
 *   npm run bench:plan
 */
import { execFileSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../src/activities';
import { renderChangeFile, type ChangeEvent } from '../src/changes/producers';
import type { TableDefinition } from '../src/config/schema';
import type { BatchPlan } from '../src/shared';
import { openHarness, putChangeFile, tableFor, uniqueName, type Harness } from '../local/harness/harness';
import { runBench } from './run';

const MB = 2 ** 20;
const FILE_BYTES = 32 * MB; // DMS's default CdcMaxBatchInterval/size cap makes files of this order

/** One change file of about `bytes` in the table's format, as text. */
function changeFile(def: TableDefinition, bytes: number): string | Buffer {
  const events: ChangeEvent[] = [];
  const sample = (i: number): ChangeEvent => ({
    op: i % 5 === 0 ? 'D' : 'U',
    ts: `2026-11-23 10:00:00.${String((i * 1000) % 1_000_000).padStart(6, '0')}`,
    position: i,
    values: { tenant: 'acme', id: i, seq: i, name: `customer-${i}-with-a-longer-name`, amount: `${i % 10000}.25` },
  });
  const perEvent = Buffer.byteLength(renderChangeFile(def, [sample(123456)]));
  for (let i = 0; i * perEvent < bytes; i++) events.push(sample(i));
  return renderChangeFile(def, events);
}

interface Case {
  label: string;
  format: TableDefinition['staging']['format'];
  gzip: boolean;
}
const CASES: Case[] = [
  { label: 'dms-csv plain', format: 'dms-csv', gzip: false },
  { label: 'dms-csv gzip', format: 'dms-csv', gzip: true },
  { label: 'debezium gzip', format: 'debezium-json', gzip: true },
];

async function land(h: Harness, c: Case, totalBytes: number): Promise<{ def: TableDefinition; textBytes: number; files: number }> {
  const database = uniqueName('bench_plan');
  const def = tableFor(database, {
    staging: { location: `s3://icetide-staging/${database}/orders/`, format: c.format },
    ordering: c.format === 'dms-csv' ? { commitTimestamp: 'commit_ts', sequence: 'seq' } : {},
    batch: { maxFiles: 5000, maxBytes: 8 * 1024 * MB },
  });
  const fileBytes = Math.min(FILE_BYTES, totalBytes);
  const text = changeFile(def, fileBytes);
  const body = c.gzip ? gzipSync(text) : Buffer.from(text);
  const files = Math.max(1, Math.round(totalBytes / fileBytes));
  const extension = `${c.format === 'dms-csv' ? '.csv' : '.json'}${c.gzip ? '.gz' : ''}`;
  for (let i = 0; i < files; i++) await putChangeFile(h, def, `f${String(i).padStart(5, '0')}${extension}`, body);
  return { def, textBytes: Buffer.byteLength(text) * files, files };
}

/** In the child: plan the batch once, report time, rows and this process's peak RSS. */
async function planInThisProcess(def: TableDefinition): Promise<void> {
  const h = await openHarness();
  try {
    const started = performance.now();
    const plan: BatchPlan = await new MockActivityEnvironment().run(createActivities(h.deps).planBatch, {
      table: def,
      cutoff: Date.now() + 60_000,
    });
    const seconds = (performance.now() - started) / 1000;
    console.log(JSON.stringify({ seconds, rows: plan.rows, files: plan.files.length, maxRssMB: process.resourceUsage().maxRSS / 1024 }));
  } finally {
    await h.close();
  }
}

async function main() {
  if (process.env.BENCH_PLAN_TABLE) return planInThisProcess(JSON.parse(process.env.BENCH_PLAN_TABLE) as TableDefinition);
  const h = await openHarness();
  try {
    const sizes = [10 * MB, 1024 * MB, ...(process.env.BENCH_LARGE ? [5 * 1024 * MB] : [])];
    console.log('batch of change files (text size) → planBatch time, throughput of text checked, peak RSS of the planning process');
    for (const size of sizes) {
      for (const c of CASES) {
        const { def, textBytes, files } = await land(h, c, size);
        const output = execFileSync(process.execPath, ['--import', 'tsx', __filename], {
          env: { ...process.env, BENCH_PLAN_TABLE: JSON.stringify(def) },
          encoding: 'utf8',
          maxBuffer: 16 * MB,
        });
        const result = JSON.parse(output.trim().split('\n').at(-1)!) as { seconds: number; rows: number; files: number; maxRssMB: number };
        const textMB = textBytes / MB;
        console.log(
          `${(textMB >= 1024 ? `${(textMB / 1024).toFixed(1)} GB` : `${textMB.toFixed(0)} MB`).padStart(7)} ${c.label.padEnd(14)} ` +
            `(${files} file(s), ${(result.rows / 1e6).toFixed(2)}M rows): ${result.seconds.toFixed(1)} s, ` +
            `${(textMB / result.seconds).toFixed(1)} MB/s, peak RSS ${result.maxRssMB.toFixed(0)} MB`,
        );
      }
    }
  } finally {
    await h.close();
  }
}

runBench(main);
