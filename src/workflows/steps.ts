import {
  ActivityCancellationType,
  proxyActivities,
  proxyLocalActivities,
  sleep,
  type ActivityFunctionWithOptions,
  type ActivityInterfaceFor,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { MergeInput } from '../activities/ingest';
import type { ModelStatementInput } from '../activities/models';
import { durationMillis } from '../config/duration';
import type { QueryOutcome } from '../shared';

/** A statement the engine lost, or that failed for a reason that passes (a commit conflict): worth submitting again. */
export const mayResubmit = (outcome: QueryOutcome): boolean =>
  outcome.state === 'LOST' || (outcome.state === 'FAILED' && !!outcome.error?.retryable);

/** Before submission `submission + 1`: commit conflicts clear when the other writer is done; jitter (workflow Math.random is seeded). */
export const resubmitBackoff = (submission: number): Promise<void> =>
  sleep(Math.round(Math.min(30_000, 1000 * 2 ** (submission - 1)) * (0.5 + Math.random())));

/**
 * A workflow's activities, every one bounded in time: a short step (plan, submit, cleanup) has the table's
 * `limits.transientRetry` for all its attempts, so transient trouble (engine or S3 restarting, 5xx, throttling) is
 * retried that long and then the run fails naming the step; the wait on a query tolerates an unreachable engine
 * that long. Errors no retry can fix fail at once (the activities mark them non-retryable).
 */
export function boundedActivities(transientRetry: string, subject: string) {
  const retryForMs = durationMillis(transientRetry);
  // Throttling clears in a moment, a restart takes seconds: start short, double up to 30 s.
  const retry = { initialInterval: '250ms', backoffCoefficient: 2, maximumInterval: '30s' } as const;
  const short = proxyActivities<Activities>({
    startToCloseTimeout: '5m',
    // Every attempt and the pauses between them: the step's whole budget.
    scheduleToCloseTimeout: retryForMs,
    // Cleanup heartbeats per chunk; a submit is one request.
    heartbeatTimeout: '15s',
    retry,
  });
  // Planning waits on the engine's check of the batch, as long as the batch's bytes take to read (minutes on Athena for
  // a full load), heartbeating meanwhile: an hour per attempt. Its transient trouble is bounded by attempts, as many as
  // the backoff spends in transientRetry, since a time bound on the whole step would also cut a long check short.
  const planning = proxyActivities<Activities>({
    heartbeatTimeout: '15s',
    startToCloseTimeout: '1h',
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: { ...retry, maximumAttempts: attemptsWithin(retryForMs) },
  });
  // Short steps run inside the workflow task that decides them: no round trip through the task queue. A crash reruns
  // them whole (from the last workflow task), so only steps safe to repeat from the start run so.
  const local = proxyLocalActivities<Activities>({
    startToCloseTimeout: '5m',
    scheduleToCloseTimeout: retryForMs,
    retry,
  });
  const waiting = proxyActivities<Activities>({
    // Heartbeats carry the query handle: a dead worker is noticed in seconds and another resumes the polling.
    heartbeatTimeout: '15s',
    startToCloseTimeout: '6h',
    scheduleToCloseTimeout: 6 * 3_600_000 + retryForMs,
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry,
  });
  return {
    /** Every short activity, each call bounded by the table's transientRetry. */
    step: summarized(short, subject),
    planBatch: (input: Parameters<Activities['planBatch']>[0]) =>
      planning.planBatch.executeWithOptions({ summary: `${subject}: planBatch` }, [input]),
    /** The same as local activities. */
    local,
    awaitQuery: (label: string, handle: QueryOutcome['handle']) =>
      waiting.awaitQuery.executeWithOptions({ summary: `${label}: query ${handle.queryId}` }, [
        { label, handle, transientRetryMs: retryForMs },
      ]),
    /** A batch's MERGE submitted and followed in one activity. */
    runMerge: (label: string, input: MergeInput) =>
      waiting.runMerge.executeWithOptions({ summary: label }, [{ ...input, label, transientRetryMs: retryForMs }]),
    /** A model's statement submitted and followed in one activity. */
    runModelStatement: (label: string, input: ModelStatementInput) =>
      waiting.runModelStatement.executeWithOptions({ summary: label }, [{ ...input, transientRetryMs: retryForMs }]),
  };
}

/** How many attempts the retry backoff (250 ms doubling to 30 s) starts within `ms`: the first, and one per pause. */
export function attemptsWithin(ms: number): number {
  let attempts = 1;
  for (let pause = 250, spent = 0; spent + pause <= ms; spent += pause, pause = Math.min(30_000, pause * 2)) attempts++;
  return attempts;
}

/** Each call's UI summary says what it is for: `shop.orders: planBatch`. */
function summarized(activities: ActivityInterfaceFor<Activities>, subject: string): ActivityInterfaceFor<Activities> {
  return new Proxy(activities, {
    get:
      (target, name: keyof Activities) =>
      (...args: unknown[]) =>
        (target[name] as ActivityFunctionWithOptions<(...a: unknown[]) => Promise<unknown>>).executeWithOptions(
          { summary: `${subject}: ${name}` },
          args,
        ),
  });
}
