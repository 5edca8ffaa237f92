import { continueAsNew, patched, workflowInfo } from '@temporalio/workflow';
import type { ModelDefinition } from '../config/models';
import { periodsOf, type Period } from '../sql/chunks';
import { VERSION_PATTERN, versionName } from '../sql/models';
import { SCD2_COLUMNS } from '../sql/scd2';
import { modelName } from '../shared';
import { audit, describeFailures } from './model-audit';
import type { ModelReport } from './model-report';
import { MAX_SUBMISSIONS, modelSteps, type ModelSteps } from './model-steps';
import { RunProgress } from './progress';
import { mayResubmit, resubmitBackoff } from './steps';

const MODEL_DEADLINE_MS = 6 * 3_600_000;
type Materialized<M extends ModelDefinition['materialization']> = Extract<ModelDefinition, { materialization: M }>;
/**
 * An incremental build continues as new after this many chunks (or sooner when Temporal suggests it), so ten years
 * of daily chunks never come near a history's event limit; each chunk is ~15 events.
 */
const CHUNKS_PER_RUN = 500;

export interface BuildModelInput {
  version: 1;
  model: ModelDefinition;
  /** An incremental build continued as new: the day its periods were computed on, the next chunk, the report so far. */
  resume?: { today: string; next: number; startedAt: number; report: ModelReport };
  /** Chunks one run takes before it continues as new (CHUNKS_PER_RUN; tests lower it). */
  chunksPerRun?: number;
}

/**
 * Builds one model by its materialisation, each statement a durable submit → await holding an engine permit:
 * - `table`: CTAS into a new version, the data tests on it (audit), then publish by replacing the model's view and
 *   drop older versions. A failed audit leaves the published view as it was and names the tests with sample rows.
 * - `incremental_by_period`: each period one chunk (one MERGE replacing the period in one commit, so it can run
 *   again), `parallelism` at a time; a resumed run redoes no finished chunk (they are in its history); then row counts
 *   per period are checked.
 * - `scd2`: one MERGE closing changed and vanished rows' versions and opening new ones; a rerun changes nothing.
 */
export async function buildModel(input: BuildModelInput): Promise<ModelReport> {
  const { model } = input;
  const name = modelName(model);
  const progress = new RunProgress(name, MODEL_DEADLINE_MS);
  const started = input.resume?.startedAt ?? Date.now();
  const report: ModelReport = input.resume?.report ?? {
    model: name,
    materialization: model.materialization,
    outcome: 'built',
    rows: 0,
    scannedBytes: 0,
    engineMillis: 0,
    millis: 0,
    queries: 0,
  };
  /**
   * Runs recorded before fewer steps per model (one read to find its tables, one query for all tests, a statement
   * submitted and followed by one activity) replay the way they ran: submit and await apart, a query per test, the
   * schema created first and the versions listed after the publish.
   */
  const current = patched('model-fewer-steps');
  /** Runs recorded before samples were opt-in read a sample of every failed test. */
  const samplesOptIn = patched('data-test-samples-opt-in');
  const steps = modelSteps(model, progress, report, { current, samplesOptIn });

  if (model.materialization === 'incremental_by_period') {
    const next = await buildPeriods(steps, model, input, started);
    if (next) return continueAsNew<typeof buildModel>(next);
  } else if (model.materialization === 'table') {
    await buildTable(steps, model);
  } else {
    await buildHistory(steps);
  }
  report.millis = Date.now() - started;
  progress.finish('built', `${name}: built (${model.materialization}), ${report.rows} row(s) written in ${report.queries} queries`);
  return report;
}

/** A new version by CTAS, audited, published by replacing the view; then the versions found at the start dropped. */
async function buildTable(steps: ModelSteps, model: Materialized<'table'>): Promise<void> {
  const { report, current, execute, fail } = steps;
  await steps.oneAtATime(async () => {
    const existing = await survey(steps);
    const version = versionName(model, Date.now());
    const built = await execute('build', { kind: 'build', version }, false);
    const failed = await audit(steps, version, built.updatedRows);
    if (failed.length) {
      if (!model.keepFailedBuild) await execute(`drop failed build ${version}`, { kind: 'drop', table: version });
      const kept = model.keepFailedBuild ? `kept for inspection as ${model.database}.${version}` : 'dropped';
      fail(`model ${steps.name}: audit failed, nothing published (build ${kept}): ${describeFailures(failed)}`, 'AuditFailed');
    }
    await execute('publish', { kind: 'publish', version });
    report.version = version;
    // Only after the publish: older versions, and builds of failed or lost runs (as found at the start).
    const older = current ? existing : await listModelTables(steps, `${model.name}__v`);
    for (const table of older) {
      if (table !== version && VERSION_PATTERN(model).test(table)) await execute(`drop ${table}`, { kind: 'drop', table });
    }
  });
}

/** SCD2: the history table created when missing, one MERGE, the tests on the history. */
async function buildHistory(steps: ModelSteps): Promise<void> {
  const { model, execute, read, fail } = steps;
  await steps.oneAtATime(async () => {
    const existing = await survey(steps);
    if (!existing.includes(model.name)) await execute('create history table', { kind: 'create-empty' }, false);
    const columns = (await read('read columns', { kind: 'columns', table: model.name }))
      .map((row) => String(row.column_name))
      .filter((column) => !(SCD2_COLUMNS as readonly string[]).includes(column));
    const at = new Date(Date.now()).toISOString().replace('T', ' ').replace('Z', '');
    await execute('history MERGE', { kind: 'scd2-merge', columns, at });
    const failed = await audit(steps, model.name);
    if (failed.length) fail(`model ${steps.name}: tests failed: ${describeFailures(failed)}`, 'AuditFailed');
  });
}

/**
 * incremental_by_period: the periods from `start` to today, `parallelism` chunks at once, each holding a permit of its
 * own; then row counts per period and the tests. Returns the input of the next run when the range goes on in one.
 */
async function buildPeriods(
  steps: ModelSteps,
  model: Materialized<'incremental_by_period'>,
  input: BuildModelInput,
  started: number,
): Promise<BuildModelInput | undefined> {
  const { report, current, execute, read, fail } = steps;
  // Runs recorded before a period was replaced by one MERGE delete, then insert, each period.
  const atomic = patched('atomic-periods');
  if (!input.resume) {
    await steps.oneAtATime(async () => {
      if (!(await survey(steps)).includes(model.name)) await execute('create table', { kind: 'create-empty' }, false);
    });
  }
  const columns = atomic
    ? (await read('read columns', { kind: 'columns', table: model.name })).map((row) => String(row.column_name))
    : undefined;
  const today = input.resume?.today ?? new Date(Date.now()).toISOString().slice(0, 10);
  const periods = periodsOf(model, today);
  let next = input.resume?.next ?? 0;
  // Runs recorded before continue-as-new took every chunk in one run.
  const until = current ? Math.min(periods.length, next + (input.chunksPerRun ?? CHUNKS_PER_RUN)) : periods.length;
  const chunkRunner = async () => {
    while (next < until && !(current && workflowInfo().continueAsNewSuggested)) await chunk(steps, periods[next++], columns);
  };
  await Promise.all(Array.from({ length: Math.min(model.incremental.parallelism, until - next) }, chunkRunner));
  if (next < periods.length) return { ...input, resume: { today, next, startedAt: started, report } };
  report.chunks = periods.length;
  await steps.oneAtATime(async () => {
    const range = { from: periods[0].from, to: periods[periods.length - 1].to };
    const mismatched = await read('check rows per period', { kind: 'period-check', range });
    if (mismatched.length) {
      const list = mismatched
        .map((row) => `${String(row.period)}: ${String(row.built)} built, ${String(row.expected)} expected`)
        .join('; ');
      fail(`model ${steps.name}: row counts differ from the SELECT's in ${mismatched.length} period(s): ${list}`, 'PeriodCheckFailed');
    }
    const failed = await audit(steps, model.name);
    if (failed.length) fail(`model ${steps.name}: tests failed: ${describeFailures(failed)}`, 'AuditFailed');
  });
  return undefined;
}

/**
 * One period, replaced whole by one MERGE given the table's columns (submitted again if lost or in conflict); in runs
 * recorded before, delete then insert, both again if the insert was lost or in conflict.
 */
async function chunk(steps: ModelSteps, period: Period, columns?: string[]): Promise<void> {
  const label = `chunk ${period.from}`;
  if (columns) {
    await steps.execute(label, { kind: 'chunk-replace', period, columns });
    return;
  }
  for (let submission = 1; ; submission++) {
    await steps.execute(`${label} delete`, { kind: 'chunk-remove', period });
    const outcome = await steps.runOnce(`${label} insert`, { kind: 'chunk-insert', period });
    if (outcome.state === 'SUCCEEDED') return;
    if (!mayResubmit(outcome) || submission >= MAX_SUBMISSIONS) steps.failure(`${label} insert`, outcome);
    await resubmitBackoff(submission);
  }
}

/**
 * The model's own table and its versions, read once at the start: what exists and what to drop after the publish.
 * None at all means a first build, maybe in a new database: only then is the schema created.
 */
async function survey(steps: ModelSteps): Promise<string[]> {
  const { model, current, execute } = steps;
  if (!current) {
    await execute('create schema', { kind: 'schema' });
    return model.materialization === 'table' ? [] : listModelTables(steps, model.name);
  }
  const tables = (await listModelTables(steps, model.name)).filter((table) => table === model.name || VERSION_PATTERN(model).test(table));
  if (!tables.length) await execute('create schema', { kind: 'schema' });
  return tables;
}

const listModelTables = async ({ read }: ModelSteps, prefix: string): Promise<string[]> =>
  (await read(`find ${prefix}`, { kind: 'tables', prefix })).map((row) => String(row.table_name));
