/**
 * Planning a batch against merging it, for batches of 10 MB and 1 GB of change files (5 GB with BENCH_LARGE=1), DMS
 * CSV plain and gzipped and Debezium JSON gzipped: planBatch's wall time, the worker's CPU seconds and peak RSS, the
 * engine's check reads (bytes scanned), then the batch's MERGE (time, bytes scanned). Files are landed by this
 * process; each batch is planned and merged in a child process of its own, whose CPU and peak RSS (getrusage) are
 * the worker's cost alone. BENCH_SIZES_MB=10,1024 picks sizes, BENCH_CASES='dms-csv gzip' cases.
 *   npm run bench:plan
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../src/activities';
import { renderChangeFile, type ChangeEvent } from '../src/changes/producers';
import type { TableDefinition } from '../src/config/schema';
import type { BatchPlan } from '../src/shared';
import { pollToEnd } from '../src/engines/engine';
import { renderMerge } from '../src/sql/merge';
import { createTable, openHarness, putChangeFile, tableFor, uniqueName, type Harness } from '../local/harness/harness';
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
  await createTable(h, def);
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
    const cpuBefore = process.cpuUsage();
    const plan: BatchPlan = await new MockActivityEnvironment().run(createActivities(h.deps).planBatch, {
      table: def,
      cutoff: Date.now() + 60_000,
    });
    const seconds = (performance.now() - started) / 1000;
    const cpu = process.cpuUsage(cpuBefore); // planning alone, not the process's start
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;
    const usage = process.resourceUsage();
    const mergeStarted = performance.now();
    const handle = await h.deps.engine.submit({
      sql: renderMerge(def, h.deps.dialect, plan.files, plan),
      idempotencyToken: randomUUID(),
      mayExist: false,
    });
    const merge = await pollToEnd(h.deps.engine, handle);
    if (merge.state !== 'SUCCEEDED') throw new Error(`MERGE ${merge.state}: ${merge.error?.message}`);
    console.log(
      JSON.stringify({
        seconds,
        cpuSeconds,
        rows: plan.rows,
        files: plan.files.length,
        maxRssMB: usage.maxRSS / 1024,
        checkMB: (plan.checkScannedBytes ?? []).reduce((a, b) => a + b, 0) / MB,
        mergeSeconds: (performance.now() - mergeStarted) / 1000,
        mergeMB: (merge.stats?.scannedBytes ?? 0) / MB,
      }),
    );
  } finally {
    await h.close();
  }
}

async function main() {
  if (process.env.BENCH_PLAN_TABLE) return planInThisProcess(JSON.parse(process.env.BENCH_PLAN_TABLE) as TableDefinition);
  const h = await openHarness();
  try {
    const sizes = process.env.BENCH_SIZES_MB
      ? process.env.BENCH_SIZES_MB.split(',').map((m) => Number(m) * MB)
      : [10 * MB, 1024 * MB, ...(process.env.BENCH_LARGE ? [5 * 1024 * MB] : [])];
    console.log('batch of change files (text size) → planning (wall, worker CPU, peak RSS, check reads scanned) | MERGE (wall, scanned)');
    for (const size of sizes) {
      for (const c of CASES.filter((k) => !process.env.BENCH_CASES || process.env.BENCH_CASES.split(',').includes(k.label))) {
        const { def, textBytes, files } = await land(h, c, size);
        const output = execFileSync(process.execPath, ['--import', 'tsx', __filename], {
          env: { ...process.env, BENCH_PLAN_TABLE: JSON.stringify(def) },
          encoding: 'utf8',
          maxBuffer: 16 * MB,
        });
        const r = JSON.parse(output.trim().split('\n').at(-1)!) as {
          seconds: number;
          cpuSeconds: number;
          rows: number;
          files: number;
          maxRssMB: number;
          checkMB: number;
          mergeSeconds: number;
          mergeMB: number;
        };
        const textMB = textBytes / MB;
        console.log(
          `${(textMB >= 1024 ? `${(textMB / 1024).toFixed(1)} GB` : `${textMB.toFixed(0)} MB`).padStart(7)} ${c.label.padEnd(14)} ` +
            `(${files} file(s), ${(r.rows / 1e6).toFixed(2)}M rows): plan ${r.seconds.toFixed(1)} s, worker CPU ${r.cpuSeconds.toFixed(2)} s, ` +
            `peak RSS ${r.maxRssMB.toFixed(0)} MB, check scanned ${r.checkMB.toFixed(1)} MB | MERGE ${r.mergeSeconds.toFixed(1)} s, ` +
            `scanned ${r.mergeMB.toFixed(1)} MB → plan/MERGE ${(r.seconds / r.mergeSeconds).toFixed(2)}, ` +
            `(check+MERGE)/MERGE scanned ${((r.checkMB + r.mergeMB) / r.mergeMB).toFixed(2)}`,
        );
      }
    }
  } finally {
    await h.close();
  }
}

runBench(main);
