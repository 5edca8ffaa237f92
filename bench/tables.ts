/**
 * Many tables on one worker (2 cores): BENCH_TABLES tables (200) on a BENCH_EVERY schedule (1m) for BENCH_MINUTES (10),
 * a BENCH_SHARE (0.1) of them receiving a change file each period. The worker is `icetide worker` in its own process,
 * as a user runs it. Prints runs started late or missed, schedule-to-start latency, worker RSS and CPU, freshness
 * (file landed → the batch that took it closed), runs that failed and the most queries seen running on Trino at once
 * against the engine quota (BENCH_QUOTA).
 *   npm run bench:tables      (BENCH_TABLES=20 BENCH_MINUTES=2 for a quick look; BENCH_SHARE=1 BENCH_QUOTA=4 for the quota)
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { stringify } from 'yaml';
import { createTable, openHarness, putChangeFile, tableFor, uniqueName } from '../local/harness/harness';
import { repoRoot } from '../local/harness/stack';
import { durationMillis } from '../src/config/duration';
import { ingestScheduleId } from '../src/shared';
import { applyIngestSchedule } from '../src/starters/schedule';
import { median, percentile } from './stats';
import { runBench } from './run';

const TABLES = Number(process.env.BENCH_TABLES ?? 200);
const MINUTES = Number(process.env.BENCH_MINUTES ?? 10);
const SHARE = Number(process.env.BENCH_SHARE ?? 0.1);
const EVERY = process.env.BENCH_EVERY ?? '1m';
/** The engine's query quota the worker keeps (ICETIDE_ENGINE_MAX_QUERIES; 0: none); default the worker's (10 on Trino). */
const QUOTA = process.env.BENCH_QUOTA;
const LATE_MS = 5000;

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** Removes the bench's schedules and stops its worker however the bench ends: 200 schedules left firing load the server. */
const cleanups: (() => Promise<unknown>)[] = [];

async function main(): Promise<void> {
  try {
    await bench();
  } finally {
    for (const cleanup of cleanups) await cleanup().catch((err: unknown) => console.error(`cleanup: ${String(err)}`));
  }
}

async function bench(): Promise<void> {
  const h = await openHarness();
  // BENCH_DATABASE reuses the tables of an earlier run (creating 200 takes minutes on 2 cores).
  const database = process.env.BENCH_DATABASE ?? uniqueName('bench_tables');
  const taskQueue = uniqueName('bench_tables_tq');
  const tables = Array.from({ length: TABLES }, (_, i) =>
    tableFor(database, {
      table: `t${i}`,
      staging: { location: `s3://icetide-staging/${database}/t${i}/` },
      schedule: { every: EVERY, lag: '0s' },
    }),
  );
  let t0 = Date.now();
  if (!process.env.BENCH_DATABASE) {
    // The first alone: concurrent CREATE SCHEMA IF NOT EXISTS race on Trino's file metastore.
    await createTable(h, tables[0]);
    for (let i = 1; i < tables.length; i += 4) await Promise.all(tables.slice(i, i + 4).map((def) => createTable(h, def)));
    console.log(`${TABLES} tables created in ${seconds(Date.now() - t0)} (BENCH_DATABASE=${database} reuses them)`);
  }

  const dir = mkdtempSync(path.join(os.tmpdir(), 'icetide-bench-tables-'));
  const projectFile = path.join(dir, 'icetide.yaml');
  // The schedules are applied below, not from the file: the worker is told how many tables it serves.
  writeFileSync(projectFile, stringify({ temporal: { taskQueue }, worker: { tables: TABLES }, tables: [] }));
  const worker = spawn(process.execPath, [path.join(repoRoot, 'bin/icetide.js'), '--config', projectFile, 'worker'], {
    env: QUOTA === undefined ? process.env : { ...process.env, ICETIDE_ENGINE_MAX_QUERIES: QUOTA },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const pid = worker.pid!;
  cleanups.push(async () => {
    worker.kill('SIGTERM');
    for (const def of tables)
      await h.client.schedule
        .getHandle(ingestScheduleId(def))
        .delete()
        .catch(() => undefined);
    await h.close();
  });
  t0 = Date.now();
  for (const def of tables) await applyIngestSchedule(h.client, def, taskQueue);
  console.log(`${TABLES} schedules applied in ${seconds(Date.now() - t0)}; running for ${MINUTES} min`);

  // Samplers: the worker's RSS and CPU from /proc, the queries running on Trino.
  const clockTicks = 100;
  const cpuSeconds = () => {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / clockTicks;
  };
  // The stack's services (process groups led by the pids local/stack.sh records): where the rest of the CPU goes.
  const runDir = path.join(process.env.ICETIDE_HOME ?? path.join(os.homedir(), '.cache/icetide'), 'run');
  const services = ['temporal', 'trino', 'minio'].map((name) => ({
    name,
    group: readFileSync(path.join(runDir, `${name}.pid`), 'utf8').trim(),
  }));
  const serviceCpu = (): Record<string, number> => {
    const totals: Record<string, number> = Object.fromEntries(services.map((s) => [s.name, 0]));
    for (const entry of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
      try {
        const fields = readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1].split(' ');
        const service = services.find((s) => s.group === fields[2]);
        if (service) totals[service.name] += (Number(fields[11]) + Number(fields[12])) / clockTicks;
      } catch {
        // gone meanwhile
      }
    }
    return totals;
  };
  const rssMb = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
  const rssSamples: { at: number; mb: number }[] = [];
  let maxQueries = 0;
  let sampling = true;
  const cpuStart = cpuSeconds();
  const servicesStart = serviceCpu();
  const sampled = (async () => {
    while (sampling) {
      rssSamples.push({ at: Date.now(), mb: rssMb() });
      // icetide's statements only: not this sampler, not a submit's lookup of an earlier submission by its tag.
      const [row] = await h.trino.query(
        `SELECT count(*) AS n FROM system.runtime.queries WHERE state NOT IN ('FINISHED', 'FAILED') ` +
          `AND source NOT IN ('bench-sampler', 'icetide-lookup')`,
        'bench-sampler',
      );
      maxQueries = Math.max(maxQueries, Number(row.n));
      await delay(250);
    }
  })();

  // The producer: each period, a share of the tables gets a file with one change.
  const landed = new Map<string, number[]>(tables.map((def) => [def.table, []]));
  const periodMs = durationMillis(EVERY);
  const started = Date.now();
  let changeId = 0;
  while (Date.now() - started < MINUTES * 60_000) {
    const chosen = [...tables].sort(() => Math.random() - 0.5).slice(0, Math.round(TABLES * SHARE));
    for (const def of chosen) {
      const id = ++changeId;
      const ts = new Date().toISOString().replace('T', ' ').replace('Z', '000');
      await putChangeFile(h, def, `${id}.csv`, [{ op: 'I', ts, values: { tenant: 'b', id, seq: id, name: 'x', amount: '1.00' } }]);
      landed.get(def.table)!.push(Date.now());
    }
    await delay(periodMs - ((Date.now() - started) % periodMs));
  }
  await delay(periodMs + 30_000); // the last files' batches
  sampling = false;
  await sampled;
  const cpu = cpuSeconds() - cpuStart;
  const servicesEnd = serviceCpu();
  const elapsed = (Date.now() - started) / 1000;

  // Every run, from visibility: its scheduled time (TemporalScheduledStartTime), start and close.
  const runs = new Map<string, { scheduled: number; start: number; close?: number }[]>();
  let failed = 0;
  for await (const run of h.client.workflow.list({ query: `TaskQueue = "${taskQueue}" AND WorkflowType = "ingestBatch"` })) {
    if (!['COMPLETED', 'RUNNING'].includes(run.status.name)) failed++;
    const table = run.workflowId.split(':')[2].split('.')[1].split('-')[0];
    const scheduled = (run.searchAttributes?.TemporalScheduledStartTime as Date[] | undefined)?.[0];
    const list = runs.get(table) ?? [];
    list.push({
      scheduled: scheduled ? new Date(scheduled).getTime() : run.startTime.getTime(),
      start: run.startTime.getTime(),
      close: run.closeTime?.getTime(),
    });
    runs.set(table, list);
  }
  let missed = 0;
  let skipped = 0;
  let unknown = 0; // schedules that could not be described (counted, not fatal: the figures of the others stand)
  for (const def of tables) {
    const info = await h.client.schedule
      .getHandle(ingestScheduleId(def))
      .describe()
      .then((d) => d.info)
      .catch(() => undefined);
    if (!info) unknown++;
    missed += info?.numActionsMissedCatchupWindow ?? 0;
    skipped += info?.numActionsSkippedOverlap ?? 0;
  }

  const all = [...runs.values()].flat();
  const startDelays = all.map((r) => r.start - r.scheduled);
  const durations = all.filter((r) => r.close).map((r) => r.close! - r.start);
  const freshness: number[] = [];
  for (const [table, times] of landed) {
    const byStart = (runs.get(table) ?? []).filter((r) => r.close).sort((a, b) => a.start - b.start);
    for (const at of times) {
      const taker = byStart.find((r) => r.start > at);
      if (taker) freshness.push(taker.close! - at);
    }
  }
  const expected = Math.floor((elapsed * 1000) / periodMs) * TABLES;
  console.log(
    `\n${TABLES} tables every ${EVERY} for ${MINUTES} min, ${Math.round(SHARE * 100)}% receiving a file per period (2 cores, one worker)`,
  );
  console.log(
    `runs: ${all.length} (about ${expected} scheduled), missed catch-up window ${missed}, skipped as overlapping ${skipped}${unknown ? ` (${unknown} schedule(s) not described)` : ''}`,
  );
  console.log(`started late (> ${LATE_MS / 1000} s after their scheduled time): ${startDelays.filter((d) => d > LATE_MS).length}`);
  console.log(
    `schedule-to-start: p50 ${seconds(median(startDelays))}, p95 ${seconds(percentile(startDelays, 95))}, max ${seconds(Math.max(...startDelays))}`,
  );
  console.log(`run duration: p50 ${seconds(median(durations))}, p95 ${seconds(percentile(durations, 95))}`);
  console.log(
    `freshness (file landed → its batch closed), ${freshness.length} files: p50 ${seconds(median(freshness))}, p95 ${seconds(percentile(freshness, 95))}`,
  );
  console.log(`  goal p95 ≤ cadence + lag + MERGE + 5 s = ${seconds(periodMs + percentile(durations, 95) + 5000)}`);
  const maxRss = Math.max(...rssSamples.map((r) => r.mb));
  // Steady: after the first period (the worker warming up), while the tables run.
  const steady = rssSamples.filter((r) => r.at > started + periodMs && r.at < started + MINUTES * 60_000).map((r) => r.mb);
  console.log(
    `worker: RSS peak ${maxRss.toFixed(0)} MB, steady median ${median(steady).toFixed(0)} MB (goal ≤ 300 MB), CPU ${cpu.toFixed(0)} s over ${elapsed.toFixed(0)} s (${((100 * cpu) / elapsed).toFixed(0)}% of one core)`,
  );
  const shares = services.map(({ name }) => `${name} ${(((servicesEnd[name] - servicesStart[name]) * 100) / elapsed).toFixed(0)}%`);
  console.log(`stack CPU (of one core; the machine has ${os.cpus().length}): ${shares.join(', ')}`);
  console.log(`runs failed: ${failed}`);
  console.log(`most queries running on Trino at once: ${maxQueries} (engine quota: ${QUOTA ?? 'the worker default'})`);
}

runBench(main);
