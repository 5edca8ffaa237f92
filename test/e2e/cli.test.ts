import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { currentRows, listUris, openHarness, putChangeFile, tableFor, uniqueName, type Harness } from '../../local/harness/harness';
import { repoRoot } from '../../local/harness/stack';
import type { ChangeEvent } from '../../src/changes/producers';
import type { TableDefinition } from '../../src/config/schema';
import { ingestScheduleId, maintainScheduleId, tableName } from '../../src/shared';
import type { TableStatus } from '../../src/starters/status';
import { atPace, exited, runCommand } from '../support/suite';

const ev = (op: 'I' | 'U' | 'D', second: number, id: number, name: string): ChangeEvent => ({
  op,
  ts: `2026-11-21 12:00:${String(second).padStart(2, '0')}.000000`,
  values: { tenant: 't', id, seq: second, name, amount: '1.00' },
});

/**
 * The `icetide` command as a user runs it (bin/icetide.js), against a project file, with a worker that is itself
 * `icetide worker`, connected by TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE from the environment alone.
 */
describe('the icetide command on a project file', function () {
  this.timeout(atPace(300_000));
  let h: Harness;
  let worker: ChildProcess;
  // An OTLP/HTTP receiver standing in for a collector: what the worker's tracing sends.
  let collector: Server;
  const traces: string[] = [];
  const taskQueue = uniqueName('cli_tq');
  const metricsPort = 19_000 + Math.floor(Math.random() * 1000);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'icetide-project-'));
  const projectFile = path.join(dir, 'icetide.yaml');
  const database = uniqueName('cli');
  const orders = tableFor(database);
  const books = tableFor(database, { table: 'books', staging: { location: `s3://icetide-staging/${database}/public/books/` } });

  const writeProject = (tables: TableDefinition[], extra = '') =>
    writeFileSync(
      projectFile,
      `# written by the CLI test\ntemporal: { taskQueue: ${taskQueue} }\nmetrics: { port: ${metricsPort}, host: 127.0.0.1 }\n${extra}` +
        stringify({ tables: tables.map((def) => ({ ...def })) }),
    );

  /** Runs `icetide <args>` and returns its exit code and output; never throws on a non-zero exit. */
  const icetide = (...args: string[]) =>
    runCommand(process.execPath, [path.join(repoRoot, 'bin/icetide.js'), '--config', projectFile, ...args], { cwd: dir });

  before(async () => {
    h = await openHarness();
    assert.ok(process.env.TEMPORAL_ADDRESS, 'the stack exports TEMPORAL_ADDRESS');
    writeProject([orders, books]);
    collector = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        traces.push(body);
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
    const otlp = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`;
    worker = spawn(process.execPath, [path.join(repoRoot, 'bin/icetide.js'), '--config', projectFile, 'worker'], {
      cwd: dir,
      env: { ...process.env, TEMPORAL_NAMESPACE: 'default', OTEL_EXPORTER_OTLP_ENDPOINT: otlp },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let log = '';
    await new Promise<void>((resolve, reject) => {
      worker.stdout?.on('data', (chunk: Buffer) => {
        log += chunk.toString();
        if (log.includes('icetide worker on task queue')) resolve();
      });
      worker.once('exit', (code) => reject(new Error(`the worker exited (${code}): ${log}`)));
    });
    assert.match(log, /^\{"time":".*","level":"INFO","message":"icetide worker on task queue/m, 'logs are JSON lines');
  });

  after(async () => {
    for (const def of [orders, books]) {
      for (const id of [ingestScheduleId(def), maintainScheduleId(def)])
        await h.client.schedule
          .getHandle(id)
          .delete()
          .catch(() => undefined);
    }
    if (worker.exitCode === null) {
      worker.kill('SIGTERM');
      await exited(worker);
    }
    collector.close();
    await h.close();
  });

  it('plans creations, applies them, and a second apply changes nothing', async () => {
    const plan = await icetide('plan');
    assert.equal(plan.code, 0, plan.stderr);
    for (const def of [orders, books]) {
      assert.match(plan.stdout, new RegExp(`\\+ create table ${tableName(def)}:\\n {4}CREATE SCHEMA`));
      assert.match(
        plan.stdout,
        new RegExp(`\\+ create schedule ${ingestScheduleId(def)}\\n\\+ create schedule ${maintainScheduleId(def)}`),
      );
    }
    assert.match(plan.stdout, /6 change\(s\); run `icetide apply`/);
    const tablesBefore = await h.trino.query(`SHOW SCHEMAS FROM iceberg LIKE '${database}'`);
    assert.deepEqual(tablesBefore, [], 'plan changes nothing');

    const apply = await icetide('apply');
    assert.equal(apply.code, 0, apply.stderr);
    assert.match(apply.stdout, /applied 6 change\(s\)/);
    const tables = await h.trino.query(`SHOW TABLES FROM iceberg."${database}"`);
    assert.deepEqual(tables.map((t) => t.Table).sort(), ['books', 'books_current', 'orders', 'orders_current']);

    const again = await icetide('apply');
    assert.equal(again.code, 0, again.stderr);
    assert.match(
      again.stdout,
      new RegExp(`= ${database}\\.orders is up to date\\n= ${database}\\.books is up to date\\nnothing to change`),
    );
  });

  it('plans a changed setting as a schedule update naming the key', async () => {
    writeProject([{ ...orders, schedule: { ...orders.schedule, every: '30m' } }, books]);
    const plan = await icetide('plan');
    assert.match(plan.stdout, new RegExp(`~ update schedule ${ingestScheduleId(orders)}: schedule\\.every: "1h" → "30m"`));
    writeProject([orders, books]);
  });

  it('runs a batch and waits for it, reports the rows; status --json agrees with the table and with staging', async () => {
    await putChangeFile(h, orders, 'f1.csv', [ev('I', 1, 1, 'a'), ev('I', 2, 2, 'b'), ev('U', 3, 1, 'a2'), ev('D', 4, 2, 'b')]);
    const run = await icetide('run', 'orders');
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, new RegExp(`${database}\\.orders: merged 4 change\\(s\\) from 1 file\\(s\\): \\d+ row\\(s\\) written`));
    assert.match(run.stdout, /applied through 2026-11-21 12:00:04\.000000/);
    // Each activity of the run says in the UI what it is for.
    const workflowId = /^(icetide:ingest:\S+)/m.exec(run.stdout)![1];
    const history = await h.client.workflow.getHandle(workflowId).fetchHistory();
    const summaries = history
      .events!.filter((e) => e.activityTaskScheduledEventAttributes)
      .map((e) => JSON.parse(Buffer.from(e.userMetadata!.summary!.data!).toString()));
    assert.deepEqual(summaries.slice(0, 2), [`${tableName(orders)}: planBatch`, `table ${tableName(orders)} MERGE`]);
    assert.deepEqual(
      (await currentRows(h, orders)).map((r) => [r.id, r.name]),
      [[1, 'a2']],
    );

    // One file waits for the next batch.
    await putChangeFile(h, orders, 'f2.csv', [ev('I', 5, 3, 'c')]);
    const status = await icetide('status', '--json');
    assert.equal(status.code, 0, status.stderr);
    const [ordersStatus, booksStatus] = JSON.parse(status.stdout) as TableStatus[];
    assert.equal(ordersStatus.table, tableName(orders));
    assert.equal(ordersStatus.schedule.state, 'active');
    assert.equal(ordersStatus.appliedThrough, '2026-11-21 12:00:04.000000');
    assert.ok(ordersStatus.freshnessLagMs! > 0);
    assert.deepEqual(ordersStatus.waiting.files, (await listUris(h, orders.staging.location)).length);
    assert.equal(ordersStatus.waiting.files, 1);
    assert.equal(ordersStatus.lastBatch?.outcome, 'merged');
    assert.equal(ordersStatus.lastBatch?.changes, 4);
    assert.match(ordersStatus.lastBatch?.queryId ?? '', /^\d{8}_/);
    assert.equal(booksStatus.lastBatch, undefined);
    assert.match(
      (await icetide('status', 'orders')).stdout,
      /applied through 2026-11-21 12:00:04\.000000 \(lag .*\) \| waiting 1 file\(s\)/,
    );

    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    assert.match(metrics, new RegExp(`icetide_batches\\{[^}]*outcome="merged"[^}]*table="${tableName(orders)}"[^}]*\\} 1`));
    assert.match(metrics, new RegExp(`icetide_changes\\{[^}]*table="${tableName(orders)}"[^}]*\\} 4`));
    assert.match(metrics, new RegExp(`icetide_batch_duration_count\\{[^}]*table="${tableName(orders)}"[^}]*\\} 1`));
    assert.match(metrics, new RegExp(`icetide_files_waiting\\{[^}]*table="${tableName(orders)}"`));
  });

  it('models: plan lists them and their schedule, apply creates it once, models run builds and reports; removed again', async () => {
    const model = `{ name: order_count, database: ${database}, materialization: table, sql: "SELECT count(*) AS n FROM ${database}.orders_current", tests: [{ row_count: { min: 1, max: 1 } }] }`;
    writeProject([orders, books], `modelRuns: { every: 1h }\nmodels:\n  - ${model}\n`);
    const plan = await icetide('plan');
    assert.equal(plan.code, 0, plan.stderr);
    assert.match(plan.stdout, new RegExp(`\\+ create schedule icetide:models:${taskQueue}\n`));
    assert.match(plan.stdout, new RegExp(`  model ${database}\\.order_count \\(table\\); reads ${database}\\.orders\n`));
    const list = await icetide('models', 'list');
    assert.equal(list.stdout, `${database}.order_count (table); reads ${database}.orders\n`);
    assert.equal((await icetide('apply')).code, 0);
    assert.match((await icetide('plan')).stdout, /nothing to change/);

    const run = await icetide('models', 'run');
    assert.equal(run.code, 0, run.stderr + run.stdout);
    assert.match(
      run.stdout,
      new RegExp(
        `✓ ${database}\\.order_count built \\(table\\): 1 row\\(s\\), .* scanned \\(\\$[0-9.e-]+ on Athena\\), .*; 1 test\\(s\\) passed, published order_count__v\\d+`,
      ),
    );
    assert.match(run.stdout, /1 built, 0 failed, 0 skipped/);

    writeProject([orders, books]);
    const removed = await icetide('apply');
    assert.match(removed.stdout, new RegExp(`removed schedule icetide:models:${taskQueue}`));
  });

  it('pause stops scheduled runs and says so; resume starts them again', async () => {
    assert.match((await icetide('pause', 'orders')).stdout, /paused/);
    const [paused] = JSON.parse((await icetide('status', 'orders', '--json')).stdout) as TableStatus[];
    assert.equal(paused.schedule.state, 'paused');
    assert.equal((await h.client.schedule.getHandle(ingestScheduleId(orders)).describe()).state.paused, true);
    assert.match((await icetide('resume', 'orders')).stdout, /resumed/);
  });

  it('reports every problem of a broken project file with its line, and exits 2', async () => {
    writeFileSync(
      projectFile,
      `tables:\n  - database: Bad\n    table: x\n    columns: []\n    primaryKey: [id]\n    schedule: { every: soon }\n`,
    );
    const broken = await icetide('status');
    assert.equal(broken.code, 2);
    assert.match(broken.stderr, /icetide\.yaml:2: tables\[0\]\.database: use lower-case letters/);
    assert.match(broken.stderr, /icetide\.yaml:4: tables\[0\]\.columns: /);
    assert.match(broken.stderr, /icetide\.yaml:6: tables\[0\]\.schedule\.every: a duration such as 30s/);
    assert.match(broken.stderr, /icetide\.yaml:2: tables\[0\]\.staging: required/);
    const unknown = await icetide('run', 'nosuch');
    writeProject([orders, books]);
    const missing = await icetide('run', 'nosuch');
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /^icetide: no table nosuch in .*icetide\.yaml \(tables: /);
    assert.equal(unknown.code, 2);
  });

  it('removing a table from the file removes its schedules on apply, and keeps its data', async () => {
    writeProject([orders]);
    const plan = await icetide('plan');
    assert.match(plan.stdout, new RegExp(`- remove schedule ${ingestScheduleId(books)} \\(its table and data are kept\\)`));
    assert.match(plan.stdout, new RegExp(`- remove schedule ${maintainScheduleId(books)}`));
    const apply = await icetide('apply');
    assert.equal(apply.code, 0, apply.stderr);
    await assert.rejects(h.client.schedule.getHandle(ingestScheduleId(books)).describe(), /not found/i);
    const tables = await h.trino.query(`SHOW TABLES FROM iceberg."${database}"`);
    assert.ok(
      tables.some((t) => t.Table === 'books'),
      'the table stays',
    );
    assert.match((await icetide('apply')).stdout, /nothing to change/);
  });

  it('replay moves archived files back into staging where they came from; merging them again changes nothing', async () => {
    const archived = tableFor(database, {
      table: 'archived',
      staging: { location: `s3://icetide-staging/${database}/public/archived/` },
      cleanup: { mode: 'archive', location: `s3://icetide-staging/${database}/archive/archived/` },
    });
    writeProject([orders, archived]);
    assert.equal((await icetide('apply')).code, 0);
    try {
      await putChangeFile(h, archived, '2026/11/21/f1.csv', [ev('I', 1, 1, 'a'), ev('I', 2, 2, 'b'), ev('D', 3, 2, 'b')]);
      assert.equal((await icetide('run', 'archived')).code, 0);
      const archive = `s3://icetide-staging/${database}/archive/archived/`;
      assert.deepEqual(await listUris(h, archive), [`${archive}2026/11/21/f1.csv`]);
      const rows = await currentRows(h, archived);

      const replay = await icetide('replay', 'archived', '--from', `${archive}2026/`);
      assert.equal(replay.code, 0, replay.stderr);
      assert.match(replay.stdout, /moved 1 file\(s\)/);
      assert.deepEqual(await listUris(h, archived.staging.location), [`${archived.staging.location}2026/11/21/f1.csv`]);
      assert.deepEqual(await listUris(h, archive), []);

      const again = await icetide('run', 'archived');
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stdout, /merged 3 change\(s\) from 1 file\(s\): 0 row\(s\) written/, 'the version guard makes the replay a no-op');
      assert.deepEqual(await currentRows(h, archived), rows);
      assert.deepEqual(await listUris(h, archive), [`${archive}2026/11/21/f1.csv`]);
      assert.equal((await icetide('replay', 'archived', '--from', 'not-s3')).code, 2);
    } finally {
      for (const id of [ingestScheduleId(archived), maintainScheduleId(archived)])
        await h.client.schedule
          .getHandle(id)
          .delete()
          .catch(() => undefined);
    }
  });

  it('the worker drains and exits 0 on SIGTERM, having sent its traces (a span per run and per activity)', async () => {
    worker.kill('SIGTERM');
    assert.equal(await exited(worker), 0);
    const sent = traces.join('\n');
    for (const span of ['RunWorkflow:ingestBatch', 'RunActivity:planBatch', 'RunActivity:runMerge', 'RunActivity:cleanupBatch']) {
      assert.ok(sent.includes(span), `no ${span} span among ${traces.length} export(s)`);
    }
  });
});
