import {
  ApplicationFailure,
  ActivityCancellationType,
  proxyActivities,
  setCurrentDetails,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { comparePosition } from '../changes/select';
import { durationMillis } from '../config/duration';
import { OUTCOME_SEARCH_ATTRIBUTE, tableName, type IngestInput, type IngestResult, type QueryOutcome, type Watermark } from '../shared';

const { planBatch, startMerge, startStatement, ensureTable } = proxyActivities<Activities>({
  startToCloseTimeout: '5m',
  // planBatch heartbeats per file it reads; a submit is one request.
  heartbeatTimeout: '30s',
  retry: { initialInterval: '1s', maximumInterval: '30s' },
});

const { awaitQuery } = proxyActivities<Activities>({
  // Heartbeats carry the query handle: a dead worker is noticed in seconds and another resumes the polling.
  heartbeatTimeout: '15s',
  startToCloseTimeout: '6h',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: { initialInterval: '1s', maximumInterval: '30s' },
});

const { cleanupBatch } = proxyActivities<Activities>({
  // The MERGE is committed: cleanup must finish eventually, so it retries without limit.
  startToCloseTimeout: '10m',
  heartbeatTimeout: '15s',
  retry: { initialInterval: '1s', maximumInterval: '1m' },
});

/** Engine failures that are worth a new submission (commit conflicts, throttling, internal errors). */
const MAX_SUBMISSIONS = 5;

/**
 * One batch for one table: plan → MERGE → await → cleanup → watermark. Deterministic; the batch's file list is
 * recorded in history (the plan), cleanup runs only after the MERGE succeeded, and only on the merged files.
 */
export async function ingestBatch(input: IngestInput): Promise<IngestResult> {
  const def = input.table;
  const name = tableName(def);
  const previous = input.watermark ?? lastWatermark();
  const cutoff = Date.now() - durationMillis(def.schedule.lag);

  const plan = await planBatch({ table: def, cutoff, after: previous.position });
  const base = { version: 1 as const, table: name, ignoredFiles: plan.ignoredFiles.length, quarantined: plan.quarantined };
  if (plan.files.length === 0) {
    const watermark = advance(previous, plan.last, undefined);
    finish('idle', `${name}: nothing to merge${plan.quarantined.length ? `, ${plan.quarantined.length} file(s) quarantined` : ''}`);
    return { ...base, outcome: 'idle', watermark, files: 0, rows: 0 };
  }

  for (let submission = 1; ; submission++) {
    // Derived from the run and the submission, never the activity attempt: a retried start finds its query.
    const token = `icetide-${workflowInfo().runId}-${submission}`;
    const handle = await startMerge({ table: def, files: plan.files, keyRange: plan.keyRange, token });
    const outcome = await awaitQuery({ table: name, handle });
    if (outcome.state === 'SUCCEEDED') {
      await cleanupBatch({ table: def, files: plan.files });
      const watermark = advance(previous, plan.last, plan.maxCommitTs);
      finish(
        'merged',
        `${name}: merged ${plan.rows} change(s) from ${plan.files.length} file(s) (query ${outcome.handle.queryId}); applied through ${watermark.appliedThrough ?? '-'}`,
      );
      return {
        ...base,
        outcome: 'merged',
        watermark,
        files: plan.files.length,
        rows: plan.rows,
        queryId: outcome.handle.queryId,
        submissions: submission,
        stats: outcome.stats,
        updatedRows: outcome.updatedRows,
      };
    }
    const reason = `table ${name}: MERGE query ${outcome.handle.queryId} ${outcome.state}: ${outcome.error?.message ?? 'no message'}`;
    if (outcome.state === 'FAILED' && outcome.error?.retryable && submission < MAX_SUBMISSIONS) {
      // Commit conflicts clear when the other writer is done: back off with jitter (workflow Math.random is seeded).
      await sleep(Math.round(1000 * 2 ** (submission - 1) * (0.5 + Math.random())));
      continue;
    }
    finish('failed', reason);
    throw ApplicationFailure.nonRetryable(reason, outcome.state === 'CANCELLED' ? 'QueryCancelled' : 'QueryFailed');
  }
}

/** Runs one SQL statement on the engine through the same durable submit/await activities as a batch's MERGE. */
export async function runStatement(input: { sql: string; label: string }): Promise<QueryOutcome> {
  const handle = await startStatement({ sql: input.sql, token: `icetide-${workflowInfo().runId}-statement` });
  const outcome = await awaitQuery({ table: input.label, handle });
  if (outcome.state !== 'SUCCEEDED') {
    throw ApplicationFailure.nonRetryable(
      `${input.label}: query ${outcome.handle.queryId} ${outcome.state}: ${outcome.error?.message ?? 'no message'}`,
      'QueryFailed',
    );
  }
  return outcome;
}

/** Creates a table's staging table, Iceberg target and current view (idempotent DDL), on a worker's engine. */
export async function ensureTableWorkflow(def: IngestInput['table']): Promise<void> {
  await ensureTable(def);
}

function lastWatermark(): Watermark {
  const last = workflowInfo().lastResult as IngestResult | undefined;
  return last?.version === 1 ? last.watermark : { version: 1 };
}

/** The watermark only moves forward. */
function advance(previous: Watermark, position: Watermark['position'], appliedThrough: string | undefined): Watermark {
  const through = [previous.appliedThrough, appliedThrough]
    .filter((t): t is string => !!t)
    .sort()
    .at(-1);
  const after = !position || (previous.position && comparePosition(previous.position, position) > 0) ? previous.position : position;
  return { version: 1, appliedThrough: through, position: after };
}

function finish(outcome: 'merged' | 'idle' | 'failed', details: string): void {
  setCurrentDetails(details);
  upsertSearchAttributes([{ key: OUTCOME_SEARCH_ATTRIBUTE, value: outcome }]);
}
