import { ApplicationFailure, workflowInfo } from '@temporalio/workflow';
import type { ModelRead, ModelStatement } from '../activities/models';
import type { ModelDefinition } from '../config/models';
import type { ReadResult } from '../engines/engine';
import { modelName, type QueryOutcome } from '../shared';
import type { ModelReport } from './model-report';
import type { RunProgress } from './progress';
import { withQueryPermit } from './quota';
import { boundedActivities, mayResubmit, resubmitBackoff } from './steps';

/** How long a model's engine or S3 trouble is retried before its step fails. */
export const TRANSIENT_RETRY = '10m';
/** Submissions of an idempotent statement the engine lost or could not commit. */
export const MAX_SUBMISSIONS = 5;
/** The statements whose row count is rows written. */
const WRITING = new Set<ModelStatement['kind']>(['build', 'chunk-replace', 'chunk-insert', 'scd2-merge']);

export type ModelSteps = ReturnType<typeof modelSteps>;

/**
 * How one build of a model runs its statements and reads: each a durable step holding an engine permit, its cost
 * counted in the report; an idempotent statement the engine lost or could not commit is submitted again. The
 * patches say how a run recorded before a change replays: `current` false before a model took fewer steps,
 * `samplesOptIn` false before failing-row samples were opt-in.
 */
export function modelSteps(
  model: ModelDefinition,
  progress: RunProgress,
  report: ModelReport,
  { current, samplesOptIn }: { current: boolean; samplesOptIn: boolean },
) {
  const name = modelName(model);
  const act = boundedActivities(TRANSIENT_RETRY, name);
  let statements = 0;

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

  return { model, name, report, current, samplesOptIn, fail, failure, oneAtATime, runOnce, execute, read };
}
