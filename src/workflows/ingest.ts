import { ApplicationFailure, workflowInfo } from '@temporalio/workflow';
import { comparePosition } from '../changes/select';
import type { TableDefinition } from '../config/schema';
import { durationMillis } from '../config/duration';
import { tableName, type IngestInput, type IngestResult, type Watermark } from '../shared';
import { recordBatch } from './metrics';
import { RunProgress } from './progress';
import { withQueryPermit } from './quota';
import { boundedActivities, mayResubmit, resubmitBackoff } from './steps';

/** How long the longest expected MERGE takes (Athena's default DML timeout): part of the default overdue deadline. */
const LONGEST_EXPECTED_MERGE_MS = 30 * 60_000;

/** A run older than this is overdue: a few schedule periods plus the longest expected MERGE, unless the table says. */
export const overdueAfterMillis = (def: TableDefinition): number =>
  def.limits.overdueAfter ? durationMillis(def.limits.overdueAfter) : 3 * durationMillis(def.schedule.every) + LONGEST_EXPECTED_MERGE_MS;

/**
 * One batch for one table: plan → MERGE → await → cleanup → watermark. Deterministic; the batch's file list is
 * recorded in history (the plan), cleanup runs only after the MERGE succeeded, and only on the merged files. A MERGE
 * the engine lost or could not commit is submitted again under a new token: the version guard makes a repeat of
 * one that did commit a no-op.
 */
export async function ingestBatch(input: IngestInput): Promise<IngestResult> {
  const started = Date.now();
  try {
    return await runBatch(input, started);
  } catch (err) {
    recordBatch(tableName(input.table), 'failed', Date.now() - started);
    throw err;
  }
}

async function runBatch(input: IngestInput, started: number): Promise<IngestResult> {
  const def = input.table;
  const name = tableName(def);
  const act = boundedActivities(def.limits.transientRetry, name);
  const progress = new RunProgress(name, overdueAfterMillis(def));
  const previous = input.watermark ?? lastWatermark();
  const cutoff = Date.now() - durationMillis(def.schedule.lag);

  const plan = await progress.run('plan', () =>
    act.step.planBatch({ table: def, cutoff, after: previous.position, purgedThrough: input.purgedThrough }),
  );
  const base = { version: 1 as const, table: name, ignoredFiles: plan.ignoredFiles.length, quarantined: plan.quarantined };
  if (plan.files.length === 0) {
    const watermark = advance(previous, plan.last, undefined);
    progress.finish(
      'idle',
      `${name}: nothing to merge${plan.quarantined.length ? `, ${plan.quarantined.length} file(s) quarantined` : ''}`,
    );
    recordBatch(name, 'idle', Date.now() - started, { watermark, filesWaiting: plan.deferredFiles });
    return { ...base, outcome: 'idle', watermark, files: 0, rows: 0 };
  }

  for (let submission = 1; ; submission++) {
    // Derived from the run and the submission, never the activity attempt: a retried start finds its query.
    const token = `icetide-${workflowInfo().runId}-${submission}`;
    // The permit is held from submit to the query's end, and given back before any pause between submissions.
    const outcome = await withQueryPermit(progress, `${name} MERGE`, async () => {
      const handle = await progress.run(`submit MERGE (submission ${submission})`, () =>
        act.step.startMerge({ table: def, files: plan.files, keyRange: plan.keyRange, exportTime: plan.exportTime, token }),
      );
      return progress.run(`await MERGE query ${handle.queryId} (${plan.rows} change(s), ${plan.files.length} file(s))`, () =>
        act.awaitQuery(`table ${name} MERGE`, handle),
      );
    });
    if (outcome.state === 'SUCCEEDED') {
      await progress.run(`cleanup of ${plan.files.length} merged file(s)`, () => act.step.cleanupBatch({ table: def, files: plan.files }));
      const watermark = advance(previous, plan.last, plan.maxCommitTs);
      progress.finish(
        'merged',
        `${name}: merged ${plan.rows} change(s) from ${plan.files.length} file(s) (query ${outcome.handle.queryId}); applied through ${watermark.appliedThrough ?? '-'}`,
      );
      const stats = { rows: plan.rows, updatedRows: outcome.updatedRows, stats: outcome.stats, watermark };
      recordBatch(name, 'merged', Date.now() - started, { ...stats, filesWaiting: plan.deferredFiles });
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
    if (mayResubmit(outcome) && submission < def.limits.maxSubmissions) {
      await resubmitBackoff(submission);
      continue;
    }
    progress.finish('failed', reason);
    throw ApplicationFailure.nonRetryable(reason, outcome.state === 'CANCELLED' ? 'QueryCancelled' : 'QueryFailed');
  }
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
