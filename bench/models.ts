/**
 * Models: an incremental model of 30 daily chunks built with parallelism 1 and 4 (wall time ratio), and the
 * orchestration overhead per model — the model's wall time minus the engine's execution time of its queries — for
 * trivial `table` models, first builds and rebuilds, per model and per query.
 *   npm run bench:models     (BENCH_ROWS rows over the 30 days, default 300000; BENCH_MODELS trivial models, default 10)
 */
import { modelDefinitionSchema, type ModelDefinition } from '../src/config/models';
import type { Project } from '../src/config/project';
import { startModels } from '../src/starters/models';
import type { ModelReport } from '../src/workflows/model-report';
import type { RunModelsResult } from '../src/workflows/models';
import { uniqueName, type Harness } from '../local/harness/harness';
import { median, percentile } from './stats';
import { runBenchWithWorker } from './run';

const ROWS = Number(process.env.BENCH_ROWS ?? 300_000);
const MODELS = Number(process.env.BENCH_MODELS ?? 10);

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

async function build(h: Harness, taskQueue: string, model: ModelDefinition): Promise<{ wall: number; report: ModelReport }> {
  const project: Project = {
    file: 'bench',
    settings: { version: 1, modelRuns: { parallelism: 1 } },
    runtime: { ...h.config, ICETIDE_TASK_QUEUE: taskQueue },
    tables: [],
    models: [model],
  };
  const started = performance.now();
  const { handle } = await startModels(h.client, project, []);
  const result = (await handle.result()) as RunModelsResult;
  const [report] = result.models;
  if (report.outcome !== 'built') throw new Error(`${report.model}: ${report.error}`);
  return { wall: performance.now() - started, report };
}

runBenchWithWorker('bench_models_tq', async (h, taskQueue) => {
  const db = uniqueName('bench_models');
  await h.trino.query(`CREATE SCHEMA iceberg.${db}`);
  await h.trino.query(
    `CREATE TABLE iceberg.${db}.events WITH (partitioning = ARRAY['day(at)']) AS ` +
      `SELECT n AS id, TIMESTAMP '2026-10-01 00:00:00' + n * INTERVAL '1' SECOND * (2592000 / ${ROWS}) AS at, 'k' || CAST(n % 7 AS varchar) AS kind ` +
      // sequence() makes at most 10,000 entries: thousands × units.
      `FROM (SELECT high * 1000 + low AS n FROM UNNEST(sequence(0, ${Math.ceil(ROWS / 1000) - 1})) AS h(high) ` +
      `CROSS JOIN UNNEST(sequence(0, 999)) AS l(low)) WHERE n < ${ROWS}`,
  );
  const model = (input: Record<string, unknown>) => modelDefinitionSchema.parse({ database: db, ...input });
  const incremental = (name: string, parallelism: number) =>
    model({
      name,
      sql: `SELECT id, at, kind, CAST(at AS date) AS day FROM ${db}.events`,
      materialization: 'incremental_by_period',
      incremental: { column: 'day', period: 'day', start: '2026-10-01', end: '2026-10-30', parallelism },
      partitioning: ['day'],
    });
  await build(h, taskQueue, model({ name: 'warmup', sql: 'SELECT 1 AS one', materialization: 'table' }));

  const walls: Record<number, number> = {};
  for (const parallelism of [1, 4]) {
    const { wall, report } = await build(h, taskQueue, incremental(`daily_p${parallelism}`, parallelism));
    walls[parallelism] = wall;
    console.log(
      `incremental, 30 daily chunks of ${ROWS / 30} rows, parallelism ${parallelism}: ${seconds(wall)} ` +
        `(${report.rows} rows, ${report.queries} queries, engine ${seconds(report.engineMillis)})`,
    );
  }
  console.log(`parallelism 4 vs 1: ${(walls[1] / walls[4]).toFixed(2)}× faster`);

  // Trivial table models with two tests (not_null: a query; row_count: from the CTAS's reported rows), built once
  // (first build: schema, CTAS, tests, publish) and then again (steady state: CTAS, tests, publish, drop the old
  // version); both after the one read that finds the model's tables.
  const tiny = (i: number) =>
    model({
      name: `tiny_${i}`,
      sql: 'SELECT 1 AS one',
      materialization: 'table',
      tests: [{ not_null: ['one'] }, { row_count: { min: 1 } }],
    });
  for (const pass of ['first build', 'rebuild']) {
    const perModel: number[] = [];
    const perQuery: number[] = [];
    const engine: number[] = [];
    let queries = 0;
    for (let i = 0; i < MODELS; i++) {
      const { report } = await build(h, taskQueue, tiny(i));
      perModel.push(report.millis - report.engineMillis);
      perQuery.push((report.millis - report.engineMillis) / report.queries);
      engine.push(report.engineMillis);
      queries = report.queries;
    }
    console.log(
      `wall minus engine time per table model, ${pass} (${MODELS} models, ${queries} queries each, engine median ` +
        `${seconds(median(engine))}): median ${seconds(median(perModel))}, p95 ${seconds(percentile(perModel, 95))}; ` +
        `per query ${seconds(median(perQuery))} (goal: ≤ 0.5 s per model)`,
    );
  }
});
