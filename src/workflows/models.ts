import { ApplicationFailure, continueAsNew, executeChild, log, patched, workflowInfo } from '@temporalio/workflow';
import type { ModelStatement, ModelRead } from '../activities/models';
import type { ReadResult } from '../engines/engine';
import type { DataTest, ModelDefinition } from '../config/models';
import { periodsOf, type Period } from '../sql/chunks';
import { rowCountFailure, testFailure, testName, FAILURES_COLUMN, type TestFailure } from '../sql/data-tests';
import { VERSION_PATTERN, versionName } from '../sql/models';
import { SCD2_COLUMNS } from '../sql/scd2';
import { modelName, type QueryOutcome } from '../shared';
import { RunProgress } from './progress';
import { withQueryPermit } from './quota';
import { boundedActivities, mayResubmit, resubmitBackoff } from './steps';

/** How long a model's engine or S3 trouble is retried before its step fails. */
const TRANSIENT_RETRY = '10m';
const MODEL_DEADLINE_MS = 6 * 3_600_000;
/** The statements whose row count is rows written. */
const WRITING = new Set<ModelStatement['kind']>(['build', 'chunk-insert', 'scd2-merge']);
/** Submissions of an idempotent statement the engine lost or could not commit. */
const MAX_SUBMISSIONS = 5;
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

export interface ModelReport {
  model: string;
  materialization: ModelDefinition['materialization'];
  /** `unchanged`: its sources did not advance since its last build (onlyWhenSourcesAdvance); `skipped`: a parent failed. */
  outcome: 'built' | 'unchanged' | 'failed' | 'skipped';
  /** Rows the model's statements wrote (CTAS, inserts, MERGE), as the engine reports them. */
  rows: number;
  scannedBytes: number;
  /** Time the engine spent executing the model's statements and reads; wall time minus this is orchestration. */
  engineMillis: number;
  millis: number;
  queries: number;
  /** `table`: the version published. */
  version?: string;
  chunks?: number;
  tests?: number;
  error?: string;
}

export interface RunModelsInput {
  version: 1;
  /**
   * In dependency order; `after` lists the models of this run each one waits for, `sources` the icetide tables it
   * reads.
   */
  models: { model: ModelDefinition; after: string[]; sources?: string[] }[];
  /** Scheduled runs: a model whose sources and parents did not advance since its last build is not built again. */
  onlyWhenSourcesAdvance?: boolean;
  parallelism: number;
  alertWebhook?: string;
  /** The Temporal UI page of runs, for the alert's link. */
  runLink?: string;
}

export interface RunModelsResult {
  version: 1;
  models: ModelReport[];
  failed: number;
  /** The source tables' newest data snapshots as this run found them (onlyWhenSourcesAdvance): the next run compares. */
  sources?: Record<string, string | null>;
}

/**
 * Builds one model by its materialisation, each statement a durable submit → await holding an engine permit:
 * - `table`: CTAS into a new version, the data tests on it (audit), then publish by replacing the model's view and
 *   drop older versions. A failed audit leaves the published view as it was and names the tests with sample rows.
 * - `incremental_by_period`: each period one chunk (delete then insert, so it can run again), `parallelism` at a time;
 *   a resumed run redoes no finished chunk (they are in its history); then row counts per period are checked.
 * - `scd2`: one MERGE closing changed and vanished rows' versions and opening new ones; a rerun changes nothing.
 */
export async function buildModel(input: BuildModelInput): Promise<ModelReport> {
  const { model } = input;
  const name = modelName(model);
  const act = boundedActivities(TRANSIENT_RETRY, name);
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
  let statements = 0;
  /**
   * Runs recorded before fewer steps per model (one read to find its tables, one query for all tests, a statement
   * submitted and followed by one activity) replay the way they ran: submit and await apart, a query per test, the
   * schema created first and the versions listed after the publish.
   */
  const current = patched('model-fewer-steps');
  /** Runs recorded before samples were opt-in read a sample of every failed test. */
  const samplesOptIn = patched('data-test-samples-opt-in');
  const wantsSamples = (test: DataTest): boolean =>
    !samplesOptIn || (('samples' in test ? test.samples : undefined) ?? model.samples ?? false);

  const fail = (message: string, type: string, retryable = false): never => {
    progress.finish('failed', message);
    throw ApplicationFailure.create({ message, type, nonRetryable: !retryable });
  };

  /**
   * Each query holds one of the engine's permits; a part of the build that runs its queries one after another holds
   * one permit throughout (oneAtATime) rather than asking again for each.
   */
  let holding = false;
  const permitted = <T>(label: string, body: () => Promise<T>): Promise<T> =>
    holding ? body() : withQueryPermit(progress, `${name} ${label}`, body);
  const oneAtATime = <T>(body: () => Promise<T>): Promise<T> =>
    withQueryPermit(progress, name, async () => {
      holding = true;
      try {
        return await body();
      } finally {
        holding = false;
      }
    });

  /** Submits and awaits one statement under a fresh token; counts what it cost. */
  async function runOnce(label: string, statement: ModelStatement): Promise<QueryOutcome> {
    const token = `icetide-${workflowInfo().runId}-${++statements}`;
    const outcome = await permitted(label, async () => {
      if (current) return progress.run(label, () => act.runModelStatement(`model ${name} ${label}`, { model, statement, token }));
      const handle = await progress.run(`submit ${label}`, () => act.step.startModelStatement({ model, statement, token }));
      return progress.run(`await ${label} query ${handle.queryId}`, () => act.awaitQuery(`model ${name} ${label}`, handle));
    });
    report.queries++;
    report.scannedBytes += outcome.stats?.scannedBytes ?? 0;
    report.engineMillis += outcome.stats?.executionMillis ?? 0;
    if (outcome.state === 'SUCCEEDED' && WRITING.has(statement.kind)) report.rows += outcome.updatedRows ?? 0;
    return outcome;
  }

  const failure = (label: string, outcome: QueryOutcome): never =>
    fail(
      `model ${name}: ${label}, query ${outcome.handle.queryId} ${outcome.state}: ${outcome.error?.message ?? 'no message'}`,
      'ModelStatementFailed',
      mayResubmit(outcome), // a lost CTAS is run again by retrying the model: a new version, the lost one dropped later
    );

  /** A statement that leaves the same result when run twice: submitted again when lost or in conflict. */
  async function execute(label: string, statement: ModelStatement, idempotent = true): Promise<QueryOutcome> {
    for (let submission = 1; ; submission++) {
      const outcome = await runOnce(label, statement);
      if (outcome.state === 'SUCCEEDED') return outcome;
      if (!idempotent || !mayResubmit(outcome) || submission >= MAX_SUBMISSIONS) return failure(label, outcome);
      await resubmitBackoff(submission);
    }
  }

  /** A short read (tables, columns, tests, the period check): its rows; its cost is the model's. */
  const read = async (label: string, what: ModelRead): Promise<Record<string, unknown>[]> => {
    const result: ReadResult | ReadResult['rows'] = await permitted(label, () =>
      progress.run(label, () => act.step.readModel({ model, read: what })),
    );
    report.queries++;
    // Runs recorded before reads reported their cost have bare rows in their history.
    if (Array.isArray(result)) return result;
    report.scannedBytes += result.stats.scannedBytes;
    report.engineMillis += result.stats.executionMillis;
    return result.rows;
  };

  /**
   * The data tests on `table`, in one query for all (a row_count is answered without one when the build reported its
   * rows); samples of failing rows are read only for the tests that failed.
   */
  async function audit(table: string, builtRows?: number): Promise<{ test: string; failure: TestFailure }[]> {
    report.tests = model.tests.length;
    if (!current) return legacyAudit(table);
    const failed: { test: string; failure: TestFailure }[] = [];
    const queried = model.tests.filter((test) => {
      if (builtRows === undefined || !('row_count' in test)) return true;
      const failure = rowCountFailure(test, builtRows);
      if (failure) failed.push({ test: testName(test), failure });
      return false;
    });
    if (!queried.length) return failed;
    const counts = await read(`tests (${queried.length})`, { kind: 'test-counts', tests: queried, table });
    for (const row of counts) {
      const failures = Number(row[FAILURES_COLUMN]);
      if (failures === 0) continue;
      const test = queried[Number(row.test)];
      if (!wantsSamples(test)) {
        failed.push({ test: testName(test), failure: { failures, sample: [] } });
        continue;
      }
      const failure = testFailure(await read(`sample ${testName(test)}`, { kind: 'test', test, table }));
      if (failure) failed.push({ test: testName(test), failure });
    }
    return failed;
  }
  /** Runs recorded before the one audit query: one query per test. */
  async function legacyAudit(table: string): Promise<{ test: string; failure: TestFailure }[]> {
    const failed: { test: string; failure: TestFailure }[] = [];
    for (const test of model.tests) {
      const failure = testFailure(await read(`test ${testName(test)}`, { kind: 'test', test, table }));
      if (failure) failed.push({ test: testName(test), failure });
    }
    return failed;
  }
  const describeFailures = (failed: { test: string; failure: TestFailure }[]) =>
    failed
      .map(
        ({ test, failure }) =>
          `${test}: ${failure.failures} failing row(s)${failure.sample.length ? `, e.g. ${JSON.stringify(failure.sample[0])}` : ''}`,
      )
      .join('; ');

  /**
   * The model's own table and its versions, read once at the start: what exists and what to drop after the publish.
   * None at all means a first build, maybe in a new database: only then is the schema created.
   */
  const listModelTables = async (prefix: string): Promise<string[]> =>
    (await read(`find ${prefix}`, { kind: 'tables', prefix })).map((row) => String(row.table_name));
  async function survey(): Promise<string[]> {
    if (!current) {
      await execute('create schema', { kind: 'schema' });
      return model.materialization === 'table' ? [] : listModelTables(model.name);
    }
    const tables = (await listModelTables(model.name)).filter((table) => table === model.name || VERSION_PATTERN(model).test(table));
    if (!tables.length) await execute('create schema', { kind: 'schema' });
    return tables;
  }

  if (model.materialization === 'incremental_by_period') {
    if (!input.resume) {
      await oneAtATime(async () => {
        if (!(await survey()).includes(model.name)) await execute('create table', { kind: 'create-empty' }, false);
      });
    }
    // Chunks run side by side, each holding a permit of its own; a long range goes on in a new run of this workflow.
    const today = input.resume?.today ?? new Date(Date.now()).toISOString().slice(0, 10);
    const periods = periodsOf(model, today);
    let next = input.resume?.next ?? 0;
    // Runs recorded before continue-as-new took every chunk in one run.
    const until = current ? Math.min(periods.length, next + (input.chunksPerRun ?? CHUNKS_PER_RUN)) : periods.length;
    const chunkRunner = async () => {
      while (next < until && !(current && workflowInfo().continueAsNewSuggested)) await chunk(periods[next++]);
    };
    await Promise.all(Array.from({ length: Math.min(model.incremental.parallelism, until - next) }, chunkRunner));
    if (next < periods.length) {
      return continueAsNew<typeof buildModel>({ ...input, resume: { today, next, startedAt: started, report } });
    }
    report.chunks = periods.length;
    await oneAtATime(async () => {
      const range = { from: periods[0].from, to: periods[periods.length - 1].to };
      const mismatched = await read('check rows per period', { kind: 'period-check', range });
      if (mismatched.length) {
        const list = mismatched
          .map((row) => `${String(row.period)}: ${String(row.built)} built, ${String(row.expected)} expected`)
          .join('; ');
        fail(`model ${name}: row counts differ from the SELECT's in ${mismatched.length} period(s): ${list}`, 'PeriodCheckFailed');
      }
      const failed = await audit(model.name);
      if (failed.length) fail(`model ${name}: tests failed: ${describeFailures(failed)}`, 'AuditFailed');
    });
  } else {
    await oneAtATime(async () => {
      const existing = await survey();
      if (model.materialization === 'table') {
        const version = versionName(model, Date.now());
        const built = await execute('build', { kind: 'build', version }, false);
        const failed = await audit(version, built.updatedRows);
        if (failed.length) {
          if (!model.keepFailedBuild) await execute(`drop failed build ${version}`, { kind: 'drop', table: version });
          const kept = model.keepFailedBuild ? `kept for inspection as ${model.database}.${version}` : 'dropped';
          fail(`model ${name}: audit failed, nothing published (build ${kept}): ${describeFailures(failed)}`, 'AuditFailed');
        }
        await execute('publish', { kind: 'publish', version });
        report.version = version;
        // Only after the publish: older versions, and builds of failed or lost runs (as found at the start).
        const older = current ? existing : await listModelTables(`${model.name}__v`);
        for (const table of older) {
          if (table !== version && VERSION_PATTERN(model).test(table)) await execute(`drop ${table}`, { kind: 'drop', table });
        }
      } else {
        if (!existing.includes(model.name)) await execute('create history table', { kind: 'create-empty' }, false);
        const columns = (await read('read columns', { kind: 'columns', table: model.name }))
          .map((row) => String(row.column_name))
          .filter((column) => !(SCD2_COLUMNS as readonly string[]).includes(column));
        const at = new Date(Date.now()).toISOString().replace('T', ' ').replace('Z', '');
        await execute('history MERGE', { kind: 'scd2-merge', columns, at });
        const failed = await audit(model.name);
        if (failed.length) fail(`model ${name}: tests failed: ${describeFailures(failed)}`, 'AuditFailed');
      }
    });
  }
  report.millis = Date.now() - started;
  progress.finish('built', `${name}: built (${model.materialization}), ${report.rows} row(s) written in ${report.queries} queries`);
  return report;

  /** One period, replaced whole: delete then insert, both again if the insert was lost or in conflict. */
  async function chunk(period: Period): Promise<void> {
    const label = `chunk ${period.from}`;
    for (let submission = 1; ; submission++) {
      await execute(`${label} delete`, { kind: 'chunk-remove', period });
      const outcome = await runOnce(`${label} insert`, { kind: 'chunk-insert', period });
      if (outcome.state === 'SUCCEEDED') return;
      if (!mayResubmit(outcome) || submission >= MAX_SUBMISSIONS) failure(`${label} insert`, outcome);
      await resubmitBackoff(submission);
    }
  }
}

/**
 * Runs models as a DAG: each once all the models it waits for are built, `parallelism` at a time, each a child run
 * retried with backoff (`retries`); a model whose parent failed is skipped, the others go on. Failures are posted
 * to the alert webhook. The result reports every model.
 */
export async function runModels(input: RunModelsInput): Promise<RunModelsResult> {
  const reports = new Map<string, ModelReport>();
  const running = new Map<string, Promise<void>>();
  const inRun = new Set(input.models.map(({ model }) => modelName(model)));
  const { upToDate, sources } = await sourcesSinceLastRun(input);
  for (;;) {
    for (const { model, after } of input.models) {
      const name = modelName(model);
      if (reports.has(name) || running.has(name)) continue;
      const parents = after.filter((parent) => inRun.has(parent));
      const broken = parents.find((parent) => ['failed', 'skipped'].includes(reports.get(parent)?.outcome ?? ''));
      if (broken) {
        reports.set(name, { ...emptyReport(model, 'skipped'), error: `not built: ${broken} ${reports.get(broken)!.outcome}` });
        continue;
      }
      if (!parents.every((parent) => reports.has(parent))) continue;
      if (upToDate(name) && parents.every((parent) => reports.get(parent)!.outcome === 'unchanged')) {
        reports.set(name, emptyReport(model, 'unchanged'));
        continue;
      }
      if (running.size >= input.parallelism) continue;
      const child = executeChild(buildModel, {
        workflowId: `${workflowInfo().workflowId}:${name}`,
        args: [{ version: 1, model }],
        retry: { maximumAttempts: model.retries + 1, initialInterval: '10s', backoffCoefficient: 2 },
        staticSummary: `model ${name} (${model.materialization})`,
      }).then(
        (report) => void reports.set(name, report),
        (err: Error) =>
          void reports.set(name, { ...emptyReport(model, 'failed'), error: (err.cause as Error | undefined)?.message ?? err.message }),
      );
      running.set(
        name,
        child.finally(() => running.delete(name)),
      );
    }
    if (!running.size) break;
    await Promise.race(running.values());
  }
  const models = input.models.map(({ model }) => reports.get(modelName(model))!);
  const failed = models.filter((r) => r.outcome === 'failed');
  if (failed.length && input.alertWebhook) {
    const { postAlert } = boundedActivities(TRANSIENT_RETRY, 'models').step;
    const lines = failed.map((r) => `• ${r.model}: ${r.error}`);
    await postAlert({
      url: input.alertWebhook,
      text: [`icetide: ${failed.length} model(s) failed in ${workflowInfo().workflowId}`, ...lines, input.runLink ?? ''].join('\n').trim(),
    }).catch(() => undefined); // an alert that cannot be sent does not fail the run it reports on
  }
  return { version: 1, models, failed: failed.length, ...(sources && { sources }) };
}

/**
 * onlyWhenSourcesAdvance: reads the source tables' newest data snapshots (one query) and compares them with what the
 * previous scheduled run found. A model is up to date when its last run built it (or found it up to date), it reads
 * at least one icetide table or model, and none of its tables has a new snapshot; its parents are checked as the
 * DAG runs. A model reading neither is always built: its sources cannot be told apart from unchanged.
 */
async function sourcesSinceLastRun(
  input: RunModelsInput,
): Promise<{ upToDate: (model: string) => boolean; sources?: Record<string, string | null> }> {
  const tables = [...new Set(input.models.flatMap(({ sources }) => sources ?? []))].sort();
  if (!input.onlyWhenSourcesAdvance || !tables.length) return { upToDate: () => false };
  const { sourceVersions } = boundedActivities(TRANSIENT_RETRY, 'models').step;
  // Unreadable snapshots (a source not created yet, a denied read) cannot tell what is up to date: build everything.
  const sources = await withQueryPermit(undefined, 'models: source snapshots', () => sourceVersions({ tables })).catch((err: Error) => {
    log.warn('models: source snapshots unreadable, building every model', { error: err.message });
    return undefined;
  });
  if (!sources) return { upToDate: () => false };
  const previous = workflowInfo().lastResult as RunModelsResult | undefined;
  const lastOutcome = new Map(previous?.models.map((report) => [report.model, report.outcome]));
  const byName = new Map(input.models.map((entry) => [modelName(entry.model), entry]));
  const upToDate = (name: string): boolean => {
    const { sources: read = [], after } = byName.get(name)!;
    const outcome = lastOutcome.get(name);
    return (
      (outcome === 'built' || outcome === 'unchanged') &&
      (read.length > 0 || after.length > 0) &&
      read.every((table) => previous?.sources !== undefined && table in previous.sources && previous.sources[table] === sources[table])
    );
  };
  return { upToDate, sources };
}

const emptyReport = (model: ModelDefinition, outcome: ModelReport['outcome']): ModelReport => ({
  model: modelName(model),
  materialization: model.materialization,
  outcome,
  rows: 0,
  scannedBytes: 0,
  engineMillis: 0,
  millis: 0,
  queries: 0,
});
