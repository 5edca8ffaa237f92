import { ApplicationFailure, patched, workflowInfo } from '@temporalio/workflow';
import { comparePosition, retainOrder } from '../changes/select';
import type { TableDefinition } from '../config/schema';
import { durationMillis } from '../config/duration';
import { tableName, type BatchPlan, type IngestInput, type IngestResult, type QueryOutcome, type Watermark } from '../shared';
import { isTooManyPartitions, partitionBudget, partitionKey, type PartitionSlice } from '../sql/partitions';
import { blockedBefore, blockTable, isRefusal, stillBlocked } from './blocked';
import { recordBatch } from './metrics';
import { RunProgress } from './progress';
import { withQueryPermit } from './quota';
import { boundedActivities, mayResubmit, resubmitBackoff } from './steps';

/** A cleanup of up to this many files is short enough for a local activity (a chunk of deletes, or of moves to archive). */
const LOCAL_CLEANUP_MAX_FILES = 100;

/** How long the longest expected MERGE takes (Athena's default DML timeout): part of the default overdue deadline. */
const LONGEST_EXPECTED_MERGE_MS = 30 * 60_000;

/** A run older than this is overdue: a few schedule periods plus the longest expected MERGE, unless the table says. */
export const overdueAfterMillis = (def: TableDefinition): number =>
  def.limits.overdueAfter ? durationMillis(def.limits.overdueAfter) : 3 * durationMillis(def.schedule.every) + LONGEST_EXPECTED_MERGE_MS;

/**
 * One batch for one table: plan → MERGE → await → cleanup → watermark. Deterministic; the batch's file list is
 * recorded in history (the plan), cleanup runs only after the MERGE succeeded, and only on the merged files. A MERGE
 * the engine lost or could not commit is submitted again under a new token: the version guard makes a repeat of
 * one that did commit a no-op. A batch the engine refuses to write whole (more partitions than one statement may
 * write) is applied as several MERGEs, one per slice of its partitions. A refusal no retry changes blocks the table
 * (workflows/blocked.ts): later runs fail at once until the next attempt is due or the definition changes.
 */
export async function ingestBatch(input: IngestInput): Promise<IngestResult> {
  const started = Date.now();
  const def = input.table;
  const name = tableName(def);
  const progress = new RunProgress(name, overdueAfterMillis(def));
  const blocked = blockedBefore();
  const waiting = stillBlocked(input, blocked);
  if (waiting) {
    progress.finish('blocked', waiting.message);
    recordBatch(name, 'blocked', Date.now() - started);
    throw waiting;
  }
  try {
    return await progress.guard(() => runBatch(input, progress, started));
  } catch (err) {
    if (!isRefusal(err)) {
      recordBatch(name, 'failed', Date.now() - started);
      throw err;
    }
    const { failure, first } = blockTable(input, blocked, err.message);
    progress.finish('blocked', failure.message);
    recordBatch(name, 'blocked', Date.now() - started);
    if (first) await alert(def, failure.message);
    throw failure;
  }
}

async function runBatch(input: IngestInput, progress: RunProgress, started: number): Promise<IngestResult> {
  const def = input.table;
  const name = tableName(def);
  const act = boundedActivities(def.limits.transientRetry, name);
  const previous = input.watermark ?? lastWatermark();
  const cutoff = Date.now() - durationMillis(def.schedule.lag);

  const plan = await progress.run('plan', () =>
    act.planBatch({ table: def, cutoff, after: previous.position, recent: previous.recent, purgedThrough: input.purgedThrough }),
  );
  const late = await noticeLateness(def, plan);
  const base = { version: 1 as const, table: name, ignoredFiles: plan.ignoredFiles.length, quarantined: plan.quarantined, late };
  if (plan.files.length === 0) {
    const watermark = advance(def, previous, plan, undefined);
    progress.finish(
      'idle',
      `${name}: nothing to merge${plan.quarantined.length ? `, ${plan.quarantined.length} file(s) quarantined` : ''}`,
    );
    recordBatch(name, 'idle', Date.now() - started, { watermark, filesWaiting: plan.deferredFiles });
    return { ...base, outcome: 'idle', watermark, files: 0, rows: 0 };
  }
  if (supersededExport(def, plan, previous) && patched('superseded-export')) {
    // Rows an export leaves unchanged keep their older versions, so only the watermark knows a newer one was merged.
    await progress.run('cleanup of a superseded export', () => act.step.cleanupBatch({ table: def, files: plan.files }));
    const watermark = advance(def, previous, plan, undefined);
    progress.finish(
      'idle',
      `${name}: export ${plan.files[0]} (${plan.exportTime}) is older than one merged (${previous.appliedThrough}): not applied`,
    );
    recordBatch(name, 'idle', Date.now() - started, { watermark, filesWaiting: plan.deferredFiles });
    return { ...base, outcome: 'idle', watermark, files: 0, rows: 0, superseded: plan.files };
  }

  const merge = new BatchMerge(def, plan, progress, act);
  let outcome = await merge.apply();
  if (outcome.state === 'FAILED' && isTooManyPartitions(outcome.error) && partitionKey(def)) outcome = await merge.applyInSlices();
  if (outcome.state !== 'SUCCEEDED') {
    const reason = `table ${name}: MERGE query ${outcome.handle.queryId} ${outcome.state}: ${outcome.error?.message ?? 'no message'}`;
    progress.finish('failed', reason);
    throw ApplicationFailure.nonRetryable(reason, outcome.state === 'CANCELLED' ? 'QueryCancelled' : 'QueryFailed');
  }

  await progress.run(`cleanup of ${plan.files.length} merged file(s)`, () => {
    const cleanup = { table: def, files: plan.files };
    // A small cleanup runs in the workflow task that saw the MERGE succeed: a round trip less. Deleting is safe to
    // repeat, as a crash mid-task would. Runs recorded before clean up as they did.
    const local = plan.files.length <= LOCAL_CLEANUP_MAX_FILES && patched('local-cleanup');
    return local ? act.local.cleanupBatch(cleanup) : act.step.cleanupBatch(cleanup);
  });
  const watermark = advance(def, previous, plan, plan.maxCommitTs);
  const statements = merge.statements > 1 ? ` in ${merge.statements} MERGEs` : '';
  progress.finish(
    'merged',
    `${name}: merged ${plan.rows} change(s) from ${plan.files.length} file(s)${statements} (query ${outcome.handle.queryId}); applied through ${watermark.appliedThrough ?? '-'}`,
  );
  const stats = { rows: plan.rows, updatedRows: merge.updatedRows, stats: merge.stats, watermark };
  recordBatch(name, 'merged', Date.now() - started, { ...stats, filesWaiting: plan.deferredFiles });
  return {
    ...base,
    outcome: 'merged',
    watermark,
    files: plan.files.length,
    rows: plan.rows,
    queryId: outcome.handle.queryId,
    submissions: merge.submissions,
    ...(merge.statements > 1 && { statements: merge.statements }),
    stats: merge.stats,
    checkScannedBytes: plan.checkScannedBytes,
    updatedRows: merge.updatedRows,
  };
}

/**
 * Applies one planned batch: one MERGE, or when the engine will not write that many partitions in one statement, one
 * MERGE per slice of the batch's partitions (each idempotent under the version guard: a crash or a repeat between
 * them is harmless). Tracks what the statements did together.
 */
class BatchMerge {
  submissions = 0;
  statements = 0;
  updatedRows?: number;
  stats?: QueryOutcome['stats'];
  private readonly name: string;

  constructor(
    private readonly def: TableDefinition,
    private readonly plan: BatchPlan,
    private readonly progress: RunProgress,
    private readonly act: ReturnType<typeof boundedActivities>,
  ) {
    this.name = tableName(def);
  }

  /** The whole batch in one MERGE. Tokens `icetide-<run>-<submission>`, as runs before slicing recorded them. */
  apply(): Promise<QueryOutcome> {
    return this.submit('MERGE', undefined, (submission) => `icetide-${workflowInfo().runId}-${submission}`);
  }

  /**
   * The batch slice by slice. A slice can still write more partitions than its keys (rows an update moves to another
   * partition, deletes without partition values): then the slices are cut again at half the size.
   */
  async applyInSlices(): Promise<QueryOutcome> {
    for (let budget = partitionBudget(this.def), round = 1; ; budget = Math.max(1, Math.floor(budget / 2)), round++) {
      const { files, keyRange, exportTime } = this.plan;
      const slices = await this.progress.run(`cut the batch into slices of at most ${budget} partitions`, () =>
        this.act.step.planPartitionSlices({ table: this.def, files, keyRange, exportTime, budget }),
      );
      let outcome: QueryOutcome | undefined;
      for (const [i, slice] of slices.entries()) {
        // Named by its place, not its partition keys: an identity partition's key is a row's value.
        const what = `MERGE of slice ${i + 1}/${slices.length} (${slice.partitions} partitions)`;
        outcome = await this.submit(what, slice, (submission) => `icetide-${workflowInfo().runId}-r${round}s${i + 1}-${submission}`);
        if (outcome.state !== 'SUCCEEDED') break;
      }
      if (!outcome)
        throw ApplicationFailure.nonRetryable(`table ${this.name}: the batch's changes have no partitions to slice`, 'QueryFailed');
      if (outcome.state === 'FAILED' && isTooManyPartitions(outcome.error) && budget > 1) continue;
      return outcome;
    }
  }

  /** Submits one MERGE until it succeeds, fails for good, or runs out of submissions (commit conflicts, lost queries). */
  private async submit(what: string, slice: PartitionSlice | undefined, tokenOf: (submission: number) => string): Promise<QueryOutcome> {
    const { def, plan, progress, act, name } = this;
    this.statements++;
    for (let submission = 1; ; submission++) {
      this.submissions++;
      // Derived from the run and the submission, never the activity attempt: a retried start finds its query.
      const token = tokenOf(submission);
      // The permit is held from submit to the query's end, and given back before any pause between submissions.
      const outcome = await withQueryPermit(progress, `${name} MERGE`, async () => {
        const merge = { table: def, files: plan.files, keyRange: plan.keyRange, exportTime: plan.exportTime, slice, token };
        const size = `${plan.rows} change(s), ${plan.files.length} file(s)`;
        // One activity submits and follows the query: a round trip less. Runs recorded before keep their two steps.
        if (patched('merge-in-one-activity')) {
          return progress.run(`${what} (submission ${submission}, ${size})`, () => act.runMerge(`table ${name} ${what}`, merge));
        }
        const handle = await progress.run(`submit ${what} (submission ${submission})`, () => act.step.startMerge(merge));
        return progress.run(`await ${what} query ${handle.queryId} (${size})`, () => act.awaitQuery(`table ${name} ${what}`, handle));
      });
      // What the engine read and ran counts whether or not the statement succeeded (a refused whole batch too).
      if (outcome.stats) {
        this.stats = {
          executionMillis: (this.stats?.executionMillis ?? 0) + outcome.stats.executionMillis,
          scannedBytes: (this.stats?.scannedBytes ?? 0) + outcome.stats.scannedBytes,
        };
      }
      if (outcome.state === 'SUCCEEDED') {
        if (outcome.updatedRows !== undefined) this.updatedRows = (this.updatedRows ?? 0) + outcome.updatedRows;
        return outcome;
      }
      if (!mayResubmit(outcome) || submission >= def.limits.maxSubmissions) return outcome;
      await resubmitBackoff(submission);
    }
  }
}

/**
 * Whether a change file has waited longer than alerts.freshness; alerts once, when the table becomes late (the
 * previous run's result says whether it already was).
 */
async function noticeLateness(def: TableDefinition, plan: BatchPlan): Promise<boolean | undefined> {
  if (!def.alerts?.freshness) return undefined; // runs started before alerts existed carry no alerts block
  const late = plan.oldestDeferred !== undefined && Date.now() - plan.oldestDeferred > durationMillis(def.alerts.freshness);
  const before = (workflowInfo().lastResult as IngestResult | undefined)?.late;
  if (late && !before) {
    const since = new Date(plan.oldestDeferred!).toISOString();
    await alert(
      def,
      `table ${tableName(def)} is LATE: a change file has waited in staging since ${since} (freshness SLA ${def.alerts.freshness}); ${plan.deferredFiles} file(s) waiting`,
    );
  }
  return late;
}

/** Posts to the table's alert webhook, if it has one; an alert that cannot be sent never fails the run it reports on. */
async function alert(def: TableDefinition, text: string): Promise<void> {
  if (!def.alerts?.webhook) return;
  const { postAlert } = boundedActivities(def.limits.transientRetry, tableName(def)).step;
  await postAlert({ url: def.alerts.webhook, text: `icetide: ${text} (${workflowInfo().workflowId})` }).catch(() => undefined);
}

/** A snapshot export at or before the newest export merged: applying it would take the table back in time. */
const supersededExport = (def: TableDefinition, plan: BatchPlan, previous: Watermark): boolean =>
  def.kind === 'snapshot' && !!plan.exportTime && !!previous.appliedThrough && plan.exportTime <= previous.appliedThrough;

function lastWatermark(): Watermark {
  const last = workflowInfo().lastResult as IngestResult | undefined;
  return last?.version === 1 ? last.watermark : { version: 1 };
}

/** The watermark only moves forward; retain mode by arrival takes the settle window the plan computed for after it. */
function advance(
  def: TableDefinition,
  previous: Watermark,
  { last: position, recent }: Pick<BatchPlan, 'last' | 'recent'>,
  appliedThrough: string | undefined,
): Watermark {
  const through = [previous.appliedThrough, appliedThrough]
    .filter((t): t is string => !!t)
    .sort()
    .at(-1);
  const after =
    !position || (previous.position && comparePosition(previous.position, position, retainOrder(def)) > 0) ? previous.position : position;
  const window = recent ?? previous.recent;
  return { version: 1, appliedThrough: through, position: after, ...(window && { recent: window }) };
}
