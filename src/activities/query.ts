import { randomUUID } from 'node:crypto';
import { ApplicationFailure, CancelledFailure, Context } from '@temporalio/activity';
import { isTerminal, pollToEnd, TransientEngineError, type QueryError, type QueryHandle } from '../engines/engine';
import { summarizeEngineMessage } from '../engines/redact';
import type { QueryOutcome } from '../shared';
import { failFastOnPermanent } from './failures';
import type { ActivityDeps } from './deps';

const UNREACHABLE_MAX_DELAY_MS = 2000;

export interface AwaitQueryInput {
  /** Names the table and the statement in messages, e.g. `shop.orders MERGE`. */
  label: string;
  handle: QueryHandle;
  /** How long the engine may stay unreachable before the wait fails (an engine restart takes well under this). */
  transientRetryMs: number;
}

/** Submitting and following statements: the engine-neutral core every workflow step uses. */
export function createQueryActivities(deps: ActivityDeps) {
  return {
    /** Submits one statement; the token makes a retried submit find the same query. */
    startStatement: (input: { sql: string; token: string }): Promise<QueryHandle> =>
      submitStatement(deps, 'submit', input.sql, input.token),

    /** Follows a submitted query to its end (see followQuery). */
    awaitQuery: (input: AwaitQueryInput): Promise<QueryOutcome> => followQuery(deps, input),
  };
}

/**
 * Submits a workflow's statement under its token (stable across attempts): a retried attempt may find the query an
 * earlier one submitted, so only then does the engine look for it. Errors no retry can fix fail the step at once.
 */
export function submitStatement(deps: ActivityDeps, what: string, sql: string, token: string): Promise<QueryHandle> {
  const mayExist = Context.current().info.attempt > 1;
  return failFastOnPermanent(what, () => deps.engine.submit({ sql, idempotencyToken: token, mayExist }));
}

/**
 * Submits a statement and follows it to its end in one activity: a round trip less than submit and await apart. The
 * handle rides in the first heartbeat, so a retry resumes following the query; a retry that finds no handle (the worker
 * died before its heartbeat reached the server) submits again under the same token, which finds the earlier
 * submission. Submitting, the engine unreachable longer than `transientRetryMs` fails the step.
 */
export async function submitAndFollow(
  deps: ActivityDeps,
  input: Omit<AwaitQueryInput, 'handle'>,
  submit: () => Promise<QueryHandle>,
): Promise<QueryOutcome> {
  const ctx = Context.current();
  let handle = ctx.info.heartbeatDetails as QueryHandle | undefined;
  if (!handle) {
    try {
      handle = await submit();
    } catch (err) {
      const waited = Date.now() - ctx.info.scheduledTimestampMs;
      if (err instanceof TransientEngineError && waited > input.transientRetryMs) {
        throw ApplicationFailure.nonRetryable(
          `${input.label}: engine unreachable for ${Math.round(waited / 1000)} s: ${err.message}`,
          'EngineUnavailable',
        );
      }
      throw err;
    }
    ctx.heartbeat(handle);
  }
  return followQuery(deps, { ...input, handle });
}

/**
 * Follows a query to its end with backed-off polls. The latest handle rides in each heartbeat, so a retry on
 * another worker resumes where this one stopped; a heartbeat timeout notices a dead worker within seconds, and
 * the workflow's history holds one activity however long the query runs. Only a cancellation of the run cancels
 * the query: a worker shutting down, or a heartbeat the server no longer accepts, leaves it to the next attempt.
 */
export async function followQuery(deps: ActivityDeps, input: AwaitQueryInput): Promise<QueryOutcome> {
  const { engine } = deps;
  const ctx = Context.current();
  let handle: QueryHandle = (ctx.info.heartbeatDetails as QueryHandle | undefined) ?? input.handle;
  const { initialMs, maxMs } = deps.poll ?? { initialMs: 100, maxMs: 2000 };
  let delay = initialMs;
  let unreachableSince: number | undefined;
  for (;;) {
    try {
      const status = await failFastOnPermanent(`${input.label}: polling query ${handle.queryId}`, () => engine.poll(handle));
      unreachableSince = undefined;
      handle = status.handle;
      if (isTerminal(status.state)) {
        return { handle, state: status.state, stats: status.stats, updatedRows: status.updatedRows, error: summarized(status.error) };
      }
    } catch (err) {
      if (!(err instanceof TransientEngineError)) throw err;
      unreachableSince ??= Date.now();
      const seconds = Math.round((Date.now() - unreachableSince) / 1000);
      if (Date.now() - unreachableSince > input.transientRetryMs) {
        throw ApplicationFailure.nonRetryable(
          `${input.label}: engine unreachable for ${seconds} s while awaiting query ${handle.queryId}: ${err.message}`,
          'EngineUnavailable',
        );
      }
      ctx.log.warn('engine unreachable while polling; polling on', {
        label: input.label,
        queryId: handle.queryId,
        seconds,
        error: err.message,
      });
      // Throttling passes in a moment; a restarting engine refuses fast for seconds: back off from 200 ms to 2 s.
      delay = Math.min(UNREACHABLE_MAX_DELAY_MS, Math.max(200, delay * 2));
    }
    ctx.heartbeat(handle);
    deps.failpoint?.('await-query');
    try {
      await ctx.sleep(delay);
    } catch (err) {
      if (!(err instanceof CancelledFailure)) throw err;
      if (ctx.cancellationDetails?.cancelRequested) await engine.cancel(handle);
      throw abandoned(ctx, err, `awaiting query ${handle.queryId}`);
    }
    if (unreachableSince === undefined) delay = Math.min(maxMs, Math.ceil(delay * 1.5));
  }
}

/** How often a waiting activity heartbeats; the SDK sends at most one per 80% of the heartbeat timeout (15 s). */
const WAITING_HEARTBEAT_MS = 2000;

/**
 * The outcome is the activity's result, kept in history: the engine's message goes there summarised (never a value
 * it quoted), in full only to this worker's debug log.
 */
function summarized(error: QueryError | undefined): QueryError | undefined {
  if (!error) return undefined;
  Context.current().log.debug('query error in full (summarised in history)', { code: error.code, error: error.message });
  return { ...error, message: summarizeEngineMessage(error.message) };
}

/**
 * Runs a wait on the engine or S3 (a read, DDL, a listing) inside an activity. It heartbeats while `work` runs, so a
 * step's success never depends on how long the engine takes to answer, and hands `work` the attempt's signal, which
 * aborts when the attempt is abandoned (the run cancelled, the server timed the attempt out, the worker shutting
 * down): a read then cancels its query on the engine rather than run on outside the engine quota. Errors no retry
 * can fix fail the step at once, naming `what`.
 */
export async function whileWaiting<T>(what: string, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ctx = Context.current();
  const beat = setInterval(() => ctx.heartbeat(), WAITING_HEARTBEAT_MS);
  try {
    return await failFastOnPermanent(what, () => work(ctx.cancellationSignal));
  } catch (err) {
    throw ctx.cancellationSignal.aborted ? abandoned(ctx, ctx.cancellationSignal.reason, what) : err;
  } finally {
    clearInterval(beat);
  }
}

/**
 * What an abandoned attempt fails with. A worker shutting down is not a cancellation of the run: the attempt fails
 * as retryable so that another worker runs it again.
 */
function abandoned(ctx: Context, reason: unknown, what: string): unknown {
  if (!ctx.cancellationDetails?.workerShutdown) return reason;
  return ApplicationFailure.retryable(`worker shut down while ${what}`, 'WorkerShutdown');
}

/**
 * Runs a short, idempotent statement (DDL) to its end, inside whileWaiting's signal. A fresh token each time:
 * re-running DDL is harmless, while reusing a token could hand back an old execution (Athena) and skip re-creating a
 * table dropped since.
 */
export async function runToEnd(deps: ActivityDeps, sql: string, signal: AbortSignal): Promise<void> {
  const handle = await deps.engine.submit({ sql, idempotencyToken: `icetide-ddl-${randomUUID()}`, mayExist: false });
  const status = await pollToEnd(deps.engine, handle, signal);
  if (status.state !== 'SUCCEEDED') {
    throw new Error(`query ${status.handle.queryId} ${status.state}: ${status.error?.message ?? ''}\n${sql}`);
  }
}
