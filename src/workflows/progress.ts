import {
  ActivityFailure,
  ApplicationFailure,
  TemporalFailure,
  TimeoutFailure,
  isCancellation,
  setCurrentDetails,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { OUTCOME_SEARCH_ATTRIBUTE, type RunOutcome } from '../shared';

/**
 * What a run is doing, as the UI and `icetide status` read it: the step it waits on and since when (current
 * details), and IcetideOutcome — `overdue` once the run is older than its deadline, its outcome when it ends.
 * Failures of a step become one non-retryable failure that names the table, the step and the last error.
 */
export class RunProgress {
  private step = 'starting';
  private since = new Date();
  private overdue = false;

  constructor(
    private readonly table: string,
    overdueAfterMs: number,
  ) {
    // A timer, not a poll: it adds one event to history, and only a run that outlives its deadline fires it.
    sleep(Math.max(0, overdueAfterMs - (Date.now() - workflowInfo().startTime.getTime())))
      .then(() => {
        this.overdue = true;
        upsertSearchAttributes([{ key: OUTCOME_SEARCH_ATTRIBUTE, value: 'overdue' }]);
        this.show();
      })
      .catch(() => undefined); // cancelled with the run
  }

  /** Runs one step; an activity failure (retries exhausted or not retryable) fails the run naming the step. */
  async run<T>(step: string, body: () => Promise<T>): Promise<T> {
    this.step = step;
    this.since = new Date();
    this.show();
    try {
      return await body();
    } catch (err) {
      if (!(err instanceof ActivityFailure)) throw err;
      const reason = `table ${this.table}: step ${step} failed: ${causeChain(err)}`;
      this.finish('failed', reason);
      // Refused: the activity said no retry can change it (as opposed to transient trouble that outlasted its retries).
      const refused = err.cause instanceof ApplicationFailure && err.cause.nonRetryable;
      throw ApplicationFailure.nonRetryable(reason, refused ? 'StepRefused' : 'StepFailed');
    }
  }

  /**
   * The run's whole body. An error of workflow code (a bug, a value nobody expected: anything not already a Temporal
   * failure) fails the run naming the table and the step it was in, instead of parking it (see workflows/index.ts).
   */
  async guard<T>(body: () => Promise<T>): Promise<T> {
    try {
      return await body();
    } catch (err) {
      if (err instanceof TemporalFailure || isCancellation(err)) throw err;
      const reason = `table ${this.table}: workflow code failed during ${this.step}: ${err instanceof Error ? err.message : String(err)}`;
      this.finish('failed', reason);
      throw ApplicationFailure.nonRetryable(reason, 'WorkflowCodeError');
    }
  }

  finish(outcome: RunOutcome, details: string): void {
    setCurrentDetails(details);
    upsertSearchAttributes([{ key: OUTCOME_SEARCH_ATTRIBUTE, value: outcome }]);
  }

  private show(): void {
    const late = this.overdue ? 'OVERDUE, ' : '';
    setCurrentDetails(`${this.table}: ${late}${this.step} since ${this.since.toISOString()}`);
  }
}

/** The messages down an activity failure's causes: a retry that ran out of time keeps its last error as the cause. */
function causeChain(err: ActivityFailure): string {
  const messages: string[] = [];
  for (let e: unknown = err.cause; e instanceof Error; e = e.cause) {
    messages.push(e instanceof TimeoutFailure ? `retried until ${e.timeoutType} timeout` : e.message);
  }
  return messages.join(': ') || err.message;
}
