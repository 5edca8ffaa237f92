import { ApplicationFailure, CancellationScope, patched, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { durationMillis } from '../config/duration';
import { tableName, type MaintainInput, type MaintainResult, type MaintenanceStep, type QueryOutcome } from '../shared';
import { boundedActivities, mayResubmit, resubmitBackoff } from './steps';
import { RunProgress } from './progress';
import { withQueryPermit } from './quota';

/** A maintenance run that lasts longer than this is marked overdue. */
const MAINTENANCE_DEADLINE_MS = 6 * 3_600_000;
const OPTIMIZE_MORE_RUNS = 'ICEBERG_OPTIMIZE_MORE_RUNS_NEEDED';
const VACUUM_MORE_RUNS = 'ICEBERG_VACUUM_MORE_RUNS_NEEDED';

const { holdIngest } = proxyActivities<Activities>({
  // Waits for a batch in flight (up to 30 min), heartbeating.
  startToCloseTimeout: '40m',
  heartbeatTimeout: '30s',
  retry: { initialInterval: '1s', maximumInterval: '30s', maximumAttempts: 10 },
});

/**
 * One maintenance run for one table, each step a durable submit → heartbeating await like a batch's MERGE:
 * tombstone purge → compaction → snapshot expiry → orphan files. Every writing step holds the table's ingestion
 * (its schedule paused, a batch in flight awaited) and releases it right after, so icetide's two writers never
 * race and ingestion waits at most one step. A release runs even when the step fails or the run is cancelled.
 */
export async function maintainTable(input: MaintainInput): Promise<MaintainResult> {
  const progress = new RunProgress(tableName(input.table), MAINTENANCE_DEADLINE_MS);
  return progress.guard(() => maintain(input, progress));
}

async function maintain(input: MaintainInput, progress: RunProgress): Promise<MaintainResult> {
  const def = input.table;
  const name = tableName(def);
  const { step: act, awaitQuery } = boundedActivities(def.limits.transientRetry, tableName(def));
  const warnings: string[] = [];
  let statements = 0;
  /** Every query of the run holds one of the engine's permits while it runs (metadata reads included). */
  const permitted = <T>(what: string, body: () => Promise<T>): Promise<T> => withQueryPermit(progress, `${name} ${what}`, body);
  const read = <T>(what: string, body: () => Promise<T>): Promise<T> => permitted(what, () => progress.run(what, body));

  /**
   * Runs a step's statement to success: again while the engine says more work remains, resubmitted on conflicts.
   * Undefined when this engine has no such step.
   */
  async function runStep(
    step: MaintenanceStep,
    options: { moreRunsCode?: string; horizon?: string } = {},
  ): Promise<{ rounds: number; scannedBytes: number; last: QueryOutcome } | undefined> {
    const { moreRunsCode, horizon } = options;
    let rounds = 1;
    let scannedBytes = 0;
    for (let submission = 1; ;) {
      const token = `icetide-${workflowInfo().runId}-${++statements}`;
      const outcome = await permitted(step, async () => {
        const handle = await progress.run(`submit ${step}`, () => act.startMaintenanceStep({ table: def, step, token, horizon }));
        return handle && progress.run(`await ${step} query ${handle.queryId}`, () => awaitQuery(`table ${name} ${step}`, handle));
      });
      if (!outcome) return undefined;
      scannedBytes += outcome.stats?.scannedBytes ?? 0;
      if (outcome.state === 'SUCCEEDED') return { rounds, scannedBytes, last: outcome };
      const message = outcome.error?.message ?? 'no message';
      if (moreRunsCode && (outcome.error?.code === moreRunsCode || message.includes(moreRunsCode))) {
        if (rounds >= def.maintenance.maxRounds) {
          warnings.push(`${step}: stopped after ${rounds} rounds with more work left (${moreRunsCode}); the next run goes on`);
          return { rounds, scannedBytes, last: outcome };
        }
        rounds++;
        continue;
      }
      if (mayResubmit(outcome) && submission < def.limits.maxSubmissions) {
        await resubmitBackoff(submission++);
        continue;
      }
      const reason = `table ${name}: maintenance step ${step}, query ${outcome.handle.queryId} ${outcome.state}: ${message}`;
      progress.finish('failed', reason);
      throw ApplicationFailure.nonRetryable(reason, 'MaintenanceFailed');
    }
  }

  /**
   * Ingestion waits while `body` writes; released however the step ends. Before the next hold, one scheduled batch
   * runs, so ingestion waits at most one step (plus the batch in flight), never the whole run.
   */
  let releasedAt: number | undefined;
  async function holdingIngestion<T>(step: string, body: () => Promise<T>, purgedThrough?: string): Promise<T> {
    await progress.run(`hold ingestion for ${step}`, () => holdIngest({ table: def, purgedThrough, releasedAt }));
    try {
      return await body();
    } finally {
      releasedAt = await CancellationScope.nonCancellable(() =>
        progress.run(`release ingestion after ${step}`, () => act.releaseIngest(def)),
      );
    }
  }

  const timed = async <T>(body: () => Promise<T>): Promise<T & { millis: number }> => {
    const started = Date.now();
    const result = await body();
    return { ...result, millis: Date.now() - started };
  };

  await progress.run('check retention', () => act.checkRetention(def));
  await runStep('properties');

  let purge: MaintainResult['purge'];
  if (def.deletes === 'tombstone') {
    const horizon = timestampText(Date.now() - durationMillis(def.maintenance.retain.tombstones));
    // The horizon reaches the ingest schedule before any tombstone goes: no later batch can merge an older change.
    purge = await holdingIngestion(
      'tombstone purge',
      () =>
        timed(async () => {
          const purged = await runStep('purge', { horizon });
          return { horizon, tombstones: purged?.last.updatedRows ?? 0 };
        }),
      horizon,
    );
  }

  const compaction = await timed(async () => {
    const before = await read('read $files', () => act.fileStats(def));
    const done = await holdingIngestion('compaction', () => runStep('compaction', { moreRunsCode: OPTIMIZE_MORE_RUNS }));
    const after = await read('read $files', () => act.fileStats(def));
    return { rounds: done?.rounds ?? 0, scannedBytes: done?.scannedBytes ?? 0, before, after };
  });

  const expiry = await timed(async () => {
    const before = await read('read $snapshots', () => act.snapshotStats(def));
    // Runs recorded before expiry was judged by the expired snapshots' own files judged by a count of all objects.
    const sample = patched('expiry-files-check') ? await read('read $snapshots', () => act.expirySample(def)) : undefined;
    const objectsBefore = await read('list table files', () => act.countTableObjects(def));
    const done = await holdingIngestion('snapshot expiry', () => runStep('expiry', { moreRunsCode: VACUUM_MORE_RUNS }));
    const after = await read('read $snapshots', () => act.snapshotStats(def));
    const filesDeleted = objectsBefore - (await read('list table files', () => act.countTableObjects(def)));
    const files = sample && (await read('check expired snapshot files', () => act.expiredFilesLeft({ table: def, sample })));
    const removed = before.snapshots - after.snapshots;
    if (before.expirable > 0 && after.snapshots >= before.snapshots) {
      warnings.push(`snapshot expiry removed none of the ${before.expirable} snapshot(s) older than ${def.maintenance.retain.snapshots}`);
    } else if (files ? files.left > 0 : removed > 0 && filesDeleted <= 0) {
      // Athena's VACUUM "succeeds" without s3:DeleteObject: snapshots go, their files stay. A batch landing meanwhile
      // adds objects, so only the expired snapshots' own files can tell.
      warnings.push(
        files
          ? `snapshot expiry removed ${removed} snapshot(s) but ${files.left} of the ${files.expired} expired snapshot file(s) checked are still there: check s3:DeleteObject on the table location`
          : `snapshot expiry removed ${removed} snapshot(s) but deleted no file: check s3:DeleteObject on the table location`,
      );
    }
    return { rounds: done?.rounds ?? 0, before, after, filesDeleted };
  });

  const orphans = await timed(async () => {
    const before = await read('list table files', () => act.countTableObjects(def));
    const done = await holdingIngestion('orphan removal', () => runStep('orphans'));
    const filesDeleted = done ? before - (await read('list table files', () => act.countTableObjects(def))) : undefined;
    return { filesDeleted };
  });

  const { before, after } = compaction;
  progress.finish(
    'maintained',
    `${name}: ${before.dataFiles} data + ${before.deleteFiles} delete files → ${after.dataFiles} + ${after.deleteFiles}` +
      `${purge ? `; ${purge.tombstones} tombstone(s) purged` : ''}; ${expiry.before.snapshots - expiry.after.snapshots} snapshot(s) expired` +
      `${warnings.length ? `; ${warnings.length} warning(s)` : ''}`,
  );
  return {
    version: 1,
    table: name,
    outcome: 'maintained',
    purge,
    compaction,
    expiry,
    orphans: orphans.filesDeleted === undefined ? undefined : { filesDeleted: orphans.filesDeleted, millis: orphans.millis },
    warnings,
  };
}

/** `yyyy-MM-dd HH:mm:ss.ffffff` in UTC, the form commit times take in the table. */
function timestampText(millis: number): string {
  return new Date(millis).toISOString().replace('T', ' ').replace('Z', '000');
}
