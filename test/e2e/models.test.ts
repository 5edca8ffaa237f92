import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { ScheduleOverlapPolicy } from '@temporalio/client';
import { modelDefinitionSchema, type ModelDefinition } from '../../src/config/models';
import type { Project } from '../../src/config/project';
import { startModels } from '../../src/starters/models';
import type { RunModelsInput, RunModelsResult } from '../../src/workflows/models';
import { applyModelsSchedule } from '../../src/starters/schedule';
import { modelBuildId } from '../../src/shared';
import { STAGING_BUCKET, startWorker, uniqueName } from '../../local/harness/harness';
import { atPace, exited, spawnCrashingWorker, useStackWithWorker } from '../support/suite';

/**
 * Models on the local stack: a CTAS model over provider CSV files, audited and published; a failed audit that leaves
 * the published model as it was; an incremental model resumed after a SIGKILL; SCD2 history over three states of a
 * source; a DAG with a failing model and its alert. Each result is compared with a reference computed here.
 */
describe('models on the stack', function () {
  this.timeout(atPace(600_000));
  const context = useStackWithWorker('models_tq');
  const db = uniqueName('models');
  const q = (sql: string) => context.h.trino.query(sql);

  const model = (input: Record<string, unknown>): ModelDefinition => modelDefinitionSchema.parse({ database: db, ...input });
  const project = (models: ModelDefinition[], taskQueue = context.taskQueue, alertWebhook?: string): Project => ({
    file: 'test',
    settings: { version: 1, modelRuns: { parallelism: 4, alertWebhook } },
    runtime: { ...context.h.config, ICETIDE_TASK_QUEUE: taskQueue },
    tables: [],
    models,
  });
  async function run(models: ModelDefinition[], options: { taskQueue?: string; alertWebhook?: string } = {}): Promise<RunModelsResult> {
    const { handle } = await startModels(context.h.client, project(models, options.taskQueue, options.alertWebhook), []);
    return handle.result() as Promise<RunModelsResult>;
  }

  // Provider files: 3 products × 3 months of daily sales, as CSV on S3 under a Hive table.
  const sales = Array.from({ length: 90 }, (_, i) => ({
    product: `p${i % 3}`,
    day: new Date(Date.UTC(2026, 6, 1) + i * 86_400_000).toISOString().slice(0, 10),
    amount: ((i * 37) % 100) + 0.25,
  }));
  const revenueSql = `SELECT product, CAST(date_trunc('month', CAST(day AS date)) AS date) AS month,
      sum(CAST(amount AS decimal(12,2))) AS revenue, count(*) AS sales
    FROM hive.${db}.provider GROUP BY 1, 2`;
  const revenue = (sql = revenueSql) =>
    model({
      name: 'monthly_revenue',
      sql,
      materialization: 'table',
      partitioning: ['month(month)'],
      tests: [{ not_null: ['product', 'month'] }, { unique: ['product', 'month'] }, { row_count: { min: 1 } }],
      retries: 0,
    });

  before(async () => {
    const csv = ['product,day,amount', ...sales.map((s) => `${s.product},${s.day},${s.amount.toFixed(2)}`)].join('\n');
    await context.h.s3.send(new PutObjectCommand({ Bucket: STAGING_BUCKET, Key: `${db}/provider/sales.csv`, Body: csv }));
    await q(`CREATE SCHEMA IF NOT EXISTS hive.${db}`);
    await q(
      `CREATE TABLE hive.${db}.provider (product varchar, day varchar, amount varchar) ` +
        `WITH (external_location = 's3://${STAGING_BUCKET}/${db}/provider/', format = 'CSV', skip_header_line_count = 1)`,
    );
  });

  const expectedRevenue = () => {
    const groups = new Map<string, { revenue: number; sales: number }>();
    for (const s of sales) {
      const key = `${s.product}|${s.day.slice(0, 8)}01`;
      const g = groups.get(key) ?? { revenue: 0, sales: 0 };
      g.revenue += s.amount;
      g.sales++;
      groups.set(key, g);
    }
    return [...groups].map(([key, g]) => `${key}|${g.revenue.toFixed(2)}|${g.sales}`).sort();
  };
  const publishedRevenue = async () =>
    (
      await q(
        `SELECT product, CAST(month AS varchar) AS month, CAST(revenue AS varchar) AS revenue, sales FROM iceberg.${db}.monthly_revenue`,
      )
    )
      .map((r) => `${r.product}|${r.month}|${r.revenue}|${r.sales}`)
      .sort();
  const versions = async () =>
    (await q(`SHOW TABLES FROM iceberg.${db} LIKE 'monthly_revenue%'`)).map((r) => String(r.Table)).filter((t) => t.includes('__v'));

  it('builds a CTAS model from provider CSV files, audits it and publishes it partitioned by month', async () => {
    const result = await run([revenue()]);
    const [report] = result.models;
    assert.equal(report.outcome, 'built', report.error);
    assert.equal(report.tests, 3);
    assert.equal(report.rows, 9);
    assert.deepEqual(await publishedRevenue(), expectedRevenue());
    const [version] = await versions();
    assert.equal(version, report.version);
    const [partitions] = await q(`SELECT count(*) AS n FROM iceberg.${db}."${version}$partitions"`);
    assert.equal(Number(partitions.n), 3);

    // A second build replaces the first: one version left, the same rows.
    const again = await run([revenue()]);
    assert.equal(again.models[0].outcome, 'built');
    assert.deepEqual(await versions(), [again.models[0].version]);
    assert.deepEqual(await publishedRevenue(), expectedRevenue());
  });

  it('a failed unique test blocks the publish, names the test and its count (a sample only with samples: true), and leaves the published model readable', async () => {
    const before = await versions();
    const duplicated = `${revenueSql} UNION ALL SELECT product, CAST(date_trunc('month', CAST(day AS date)) AS date), 0, 0
      FROM hive.${db}.provider WHERE product = 'p1' GROUP BY 1, 2`;
    const [report] = (await run([revenue(duplicated)])).models;
    assert.equal(report.outcome, 'failed');
    assert.match(report.error ?? '', /audit failed, nothing published \(build dropped\): unique\(product, month\): 3 failing row\(s\)$/);
    const [sampled] = (await run([{ ...revenue(duplicated), samples: true }])).models;
    assert.match(
      sampled.error ?? '',
      /audit failed, nothing published \(build dropped\): unique\(product, month\): 3 failing row\(s\), e\.g\. \{"product":"p1"/,
    );
    assert.deepEqual(await publishedRevenue(), expectedRevenue());
    assert.deepEqual(await versions(), before, 'the failed build is dropped, the published version kept');
  });

  it('an incremental model killed (SIGKILL) after 12 of 30 chunks resumes at chunk 13 and equals a one-shot CTAS', async () => {
    await q(`CREATE TABLE iceberg.${db}.events (id bigint, at timestamp(6), kind varchar)`);
    const rows = Array.from(
      { length: 600 },
      (_, i) => `(${i}, TIMESTAMP '2026-10-01 00:00:00' + INTERVAL '${(i * 4321) % 2_592_000}' SECOND, 'k${i % 4}')`,
    );
    await q(`INSERT INTO iceberg.${db}.events VALUES ${rows.join(', ')}`);
    const daily = model({
      name: 'daily_events',
      sql: `SELECT id, at, kind, CAST(at AS date) AS day FROM ${db}.events`,
      materialization: 'incremental_by_period',
      incremental: { column: 'day', period: 'day', start: '2026-10-01', end: '2026-10-30', parallelism: 1 },
      partitioning: ['day'],
      tests: [{ unique: ['id'] }],
    });
    const taskQueue = uniqueName('models_crash_tq');
    const crashing = spawnCrashingWorker(taskQueue, 'submit-chunk', 'SIGKILL', 12);
    const started = startModels(context.h.client, project([daily], taskQueue), []);
    assert.equal(await exited(crashing), 'SIGKILL');
    const worker = await startWorker(context.h, taskQueue);
    try {
      const { handle } = await started;
      const result = (await handle.result()) as RunModelsResult;
      assert.equal(result.models[0].outcome, 'built', result.models[0].error);
      assert.equal(result.models[0].chunks, 30);
      // Each chunk's MERGE was scheduled once: the 13th was retried as the same activity, none redone.
      const history = await context.h.client.workflow.getHandle(modelBuildId(daily)).fetchHistory();
      const merges = (history.events ?? []).filter((e) => {
        const attributes = e.activityTaskScheduledEventAttributes;
        if (attributes?.activityType?.name !== 'runModelStatement') return false;
        const [input] = attributes.input!.payloads!.map((p) => JSON.parse(Buffer.from(p.data!).toString()));
        return input.statement.kind === 'chunk-replace';
      });
      assert.equal(merges.length, 30);
    } finally {
      await worker.stop();
    }
    const difference = await q(
      `SELECT count(*) AS n FROM ((SELECT * FROM iceberg.${db}.daily_events EXCEPT SELECT id, at, kind, CAST(at AS date) FROM iceberg.${db}.events)
        UNION ALL (SELECT id, at, kind, CAST(at AS date) FROM iceberg.${db}.events EXCEPT SELECT * FROM iceberg.${db}.daily_events))`,
    );
    assert.equal(Number(difference[0].n), 0);
    const [count] = await q(`SELECT count(*) AS n FROM iceberg.${db}.daily_events`);
    assert.equal(Number(count.n), 600);
  });

  it('an incremental period is replaced in one commit: a reader never sees it empty, a failing rebuild leaves its rows, a second run is skipped', async () => {
    const days = Array.from({ length: 10 }, (_, i) => `2026-09-${String(i + 1).padStart(2, '0')}`);
    await q(`CREATE SCHEMA IF NOT EXISTS iceberg.${db}`);
    await q(`CREATE TABLE iceberg.${db}.visits (id bigint, day date, v varchar)`);
    const rows = (from: number, n: number) =>
      Array.from({ length: n }, (_, i) => `(${from + i}, DATE '${days[(from + i) % days.length]}', '${from + i}')`).join(', ');
    await q(`INSERT INTO iceberg.${db}.visits VALUES ${rows(0, 500)}`);
    const visits = model({
      name: 'daily_visits',
      sql: `SELECT id, day, CAST(v AS integer) AS v FROM ${db}.visits`,
      materialization: 'incremental_by_period',
      incremental: { column: 'day', period: 'day', start: days[0], end: days.at(-1), parallelism: 1 },
      retries: 0,
    });
    const perDay = async () =>
      Object.fromEntries(
        (await q(`SELECT CAST(day AS varchar) AS day, count(*) AS n FROM iceberg.${db}.daily_visits GROUP BY 1`)).map((r) => [
          String(r.day),
          Number(r.n),
        ]),
      );
    const [first] = (await run([visits])).models;
    assert.equal(first.outcome, 'built', first.error);
    assert.deepEqual(await perDay(), Object.fromEntries(days.map((d) => [d, 50])));

    // A rebuild (10 new rows) read all along by another reader; a second run of the model while it builds.
    await q(`INSERT INTO iceberg.${db}.visits VALUES ${rows(500, 10)}`);
    const rebuild = await startModels(context.h.client, project([visits]), []);
    let done = false;
    const seen: Record<string, number>[] = [];
    const reader = (async () => {
      while (!done) seen.push(await perDay());
    })();
    // The first build's run is COMPLETED; the rebuild's is RUNNING once the rebuild started it.
    const building = context.h.client.workflow.getHandle(modelBuildId(visits));
    const status = () =>
      building.describe().then(
        (d) => d.status.name,
        () => 'NOT_FOUND',
      );
    for (let i = 0; i < 100 && (await status()) !== 'RUNNING'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const [second] = (await run([visits])).models;
    const [rebuilt] = ((await rebuild.handle.result()) as RunModelsResult).models;
    done = true;
    await reader;
    assert.equal(rebuilt.outcome, 'built', rebuilt.error);
    assert.ok(seen.length >= 5, `the reader read ${seen.length} time(s) during the rebuild`);
    const emptied = seen.filter((counts) => days.some((d) => !(counts[d] >= 50)));
    assert.equal(emptied.length, 0, `${emptied.length} of ${seen.length} reads saw a period emptied: ${JSON.stringify(emptied[0])}`);
    assert.deepEqual(await perDay(), Object.fromEntries(days.map((d) => [d, 51])));
    assert.equal(second.outcome, 'skipped', 'a second run of the model while it builds');
    assert.equal(second.error, `not built: another run is building it now (icetide:model:${db}.daily_visits)`);

    // A row the SELECT cannot convert fails its period's MERGE for good: that period keeps its rows.
    await q(`INSERT INTO iceberg.${db}.visits VALUES (9999, DATE '${days[1]}', 'not a number')`);
    const [failed] = (await run([visits])).models;
    assert.equal(failed.outcome, 'failed');
    assert.match(failed.error ?? '', new RegExp(`chunk ${days[1]}( insert)?, query \\S+ FAILED`));
    assert.deepEqual(await perDay(), Object.fromEntries(days.map((d) => [d, 51])));
  });

  it('SCD2 over three successive states of a source equals an independent reference history; a rerun changes nothing', async () => {
    await q(`CREATE TABLE iceberg.${db}.customers (id bigint, name varchar, tier varchar)`);
    const states: [number, string, string][][] = [
      [
        [1, 'ann', 'gold'],
        [2, 'bob', 'silver'],
        [3, 'cy', 'bronze'],
      ],
      [
        [1, 'ann', 'platinum'], // changed
        [2, 'bob', 'silver'], // unchanged
        [4, 'dee', 'gold'], // new; 3 deleted
      ],
      [
        [1, 'ann', 'platinum'],
        [2, 'bob', null as unknown as string], // changed to NULL
        [3, 'cy', 'gold'], // back after a delete
        [4, 'dee', 'gold'],
      ],
    ];
    const history = model({
      name: 'customers_history',
      sql: `SELECT id, name, tier FROM ${db}.customers`,
      materialization: 'scd2',
      scd2: { key: ['id'] },
      tests: [{ not_null: ['id', 'valid_from'] }],
    });
    // The reference: per key, the versions in order; the last one current unless the key is gone.
    const reference = new Map<number, { name: string; tier: string | null; current: boolean }[]>();
    const sql = (v: string | null) => (v === null ? 'NULL' : `'${v}'`);
    for (const state of states) {
      await q(`DELETE FROM iceberg.${db}.customers`);
      await q(
        `INSERT INTO iceberg.${db}.customers VALUES ${state.map(([id, name, tier]) => `(${id}, ${sql(name)}, ${sql(tier)})`).join(', ')}`,
      );
      for (const [id, versions] of reference) {
        const row = state.find(([key]) => key === id);
        const last = versions.at(-1)!;
        if (last.current && (!row || row[1] !== last.name || row[2] !== last.tier)) last.current = false;
      }
      for (const [id, name, tier] of state) {
        const versions = reference.get(id) ?? [];
        if (!versions.at(-1)?.current) versions.push({ name, tier, current: true });
        reference.set(id, versions);
      }
      const result = await run([history]);
      assert.equal(result.models[0].outcome, 'built', result.models[0].error);
    }
    const expected = [...reference].flatMap(([id, versions]) => versions.map((v) => `${id}|${v.name}|${v.tier}|${v.current}`)).sort();
    const actual = async () =>
      (
        await q(
          `SELECT id, name, tier, is_current, valid_to IS NULL AS open, valid_from FROM iceberg.${db}.customers_history ORDER BY id, valid_from`,
        )
      ).map((r) => {
        assert.equal(r.open, r.is_current, `version of ${String(r.id)}: valid_to set exactly when closed`);
        return `${String(r.id)}|${String(r.name)}|${String(r.tier)}|${String(r.is_current)}`;
      });
    assert.deepEqual((await actual()).sort(), expected);
    const rerun = await run([history]);
    assert.equal(rerun.models[0].rows, 0, 'the same input writes nothing');
    assert.deepEqual((await actual()).sort(), expected);
  });

  it('a DAG of five models with one failing builds the others, skips its child, reports and alerts', async () => {
    const posted: string[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => (body += chunk));
      req.on('end', () => {
        posted.push(body);
        res.end('ok');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
      const table = (name: string, sql: string) => model({ name, sql, materialization: 'table', retries: 0 });
      const models = [
        table('dag_a', `SELECT product, count(*) AS n FROM hive.${db}.provider GROUP BY 1`),
        table('dag_b', `SELECT product FROM ${db}.dag_a WHERE n > 0`),
        table('dag_c', `SELECT product, n / (n - n) AS broken FROM ${db}.dag_a`),
        table('dag_d', `SELECT * FROM ${db}.dag_c`),
        table('dag_e', `SELECT 1 AS one`),
      ];
      const result = await run(models, { alertWebhook: url });
      const outcome = Object.fromEntries(result.models.map((r) => [r.model.split('.')[1], r.outcome]));
      assert.deepEqual(outcome, { dag_a: 'built', dag_b: 'built', dag_c: 'failed', dag_d: 'skipped', dag_e: 'built' });
      const failed = result.models.find((r) => r.outcome === 'failed')!;
      assert.match(failed.error ?? '', /model .*\.dag_c: build, query \S+ FAILED: .*Division by zero/);
      assert.match(result.models.find((r) => r.outcome === 'skipped')!.error ?? '', /not built: .*\.dag_c failed/);
      assert.equal(result.failed, 1);
      assert.equal(posted.length, 1);
      const { text } = JSON.parse(posted[0]) as { text: string };
      assert.match(text, /1 model\(s\) failed/);
      assert.match(text, /dag_c: .*Division by zero/);
      assert.match(text, /\/workflows\/icetide%3Amodels%3A/);
    } finally {
      server.close();
    }
  });

  it('scheduled runs with onlyWhenSourcesAdvance rebuild a model and its children only after their source table gains data', async () => {
    await q(`CREATE SCHEMA IF NOT EXISTS iceberg.${db}`);
    await q(`CREATE TABLE iceberg.${db}.orders (id integer, amount integer)`);
    await q(`INSERT INTO iceberg.${db}.orders VALUES (1, 10), (2, 20)`);
    await q(`INSERT INTO iceberg.${db}.orders VALUES (3, 30)`);
    const totals = model({
      name: 'order_totals',
      sql: `SELECT count(*) AS n, sum(amount) AS total FROM ${db}.orders`,
      materialization: 'table',
    });
    const doubled = model({ name: 'order_doubled', sql: `SELECT n * 2 AS n2 FROM ${db}.order_totals`, materialization: 'table' });
    const input: RunModelsInput = {
      version: 1,
      models: [
        { model: totals, after: [], sources: [`${db}.orders`] },
        { model: doubled, after: [`${db}.order_totals`], sources: [] },
      ],
      parallelism: 2,
      onlyWhenSourcesAdvance: true,
    };
    const scheduleId = `icetide:models:${uniqueName('advance')}`;
    await applyModelsSchedule(context.h.client, scheduleId, input, '1h', context.taskQueue);
    const schedule = context.h.client.schedule.getHandle(scheduleId);
    // One scheduled run now; its result.
    const tick = async (): Promise<Record<string, string>> => {
      const before = (await schedule.describe()).info.recentActions.length;
      await schedule.trigger(ScheduleOverlapPolicy.SKIP); // ALLOW_ALL would start it without the last run's result
      for (;;) {
        const { recentActions } = (await schedule.describe()).info;
        if (recentActions.length > before) {
          const { workflowId, firstExecutionRunId } = recentActions.at(-1)!.action.workflow;
          const result = (await context.h.client.workflow.getHandle(workflowId, firstExecutionRunId).result()) as RunModelsResult;
          return Object.fromEntries(result.models.map((r) => [r.model.split('.')[1], r.outcome]));
        }
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    };
    const published = async () => (await q(`SELECT n2 FROM iceberg.${db}.order_doubled`)).map((r) => Number(r.n2));
    try {
      assert.deepEqual(await tick(), { order_totals: 'built', order_doubled: 'built' });
      assert.deepEqual(await published(), [6]);
      assert.deepEqual(await tick(), { order_totals: 'unchanged', order_doubled: 'unchanged' });
      // Compaction rewrites files, not rows: still nothing to rebuild.
      await q(`ALTER TABLE iceberg.${db}.orders EXECUTE optimize`);
      assert.deepEqual(await tick(), { order_totals: 'unchanged', order_doubled: 'unchanged' });
      await q(`INSERT INTO iceberg.${db}.orders VALUES (4, 40)`);
      assert.deepEqual(await tick(), { order_totals: 'built', order_doubled: 'built' });
      assert.deepEqual(await published(), [8]);
    } finally {
      await schedule.delete();
    }
  });
});
