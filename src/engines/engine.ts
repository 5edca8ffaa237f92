import { setTimeout as sleep } from 'node:timers/promises';

/**
 * The one interface both SQL engines implement. A query is submitted once, then observed through a `QueryHandle`
 * that is small and serializable: it travels in activity results and heartbeats, so polling resumes on any worker.
 */
export type EngineKind = 'trino' | 'athena';

export interface QueryHandle {
  engine: EngineKind;
  queryId: string;
  /** Trino only: the protocol's next URI. Trino abandons a query whose client stops following it. */
  nextUri?: string;
}

export interface QueryStats {
  /** Time the engine spent executing (excludes time queued). */
  executionMillis: number;
  /** What the engine read: Athena bills DataScannedInBytes; Trino reports physical input bytes. */
  scannedBytes: number;
}

/**
 * LOST: the engine no longer knows the query (a restart forgot it, another coordinator answered, the client
 * abandoned it). Whether it committed is unknown; a statement guarded by versions can simply be submitted again.
 */
export type QueryState = 'QUEUED' | 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'CANCELLED' | 'LOST';

export interface QueryError {
  message: string;
  /** The engine's own code or name, e.g. ICEBERG_COMMIT_ERROR, ThrottlingException, ABANDONED_QUERY. */
  code?: string;
  /** True when running the same statement again can succeed (commit conflicts, throttling, internal errors). */
  retryable: boolean;
}

export interface QueryStatus {
  handle: QueryHandle;
  state: QueryState;
  stats?: QueryStats;
  error?: QueryError;
  /** Rows affected, when the engine reports them (Trino's update count). */
  updatedRows?: number;
}

export interface ReadResult {
  rows: Record<string, unknown>[];
  stats: QueryStats;
}

export interface SubmitRequest {
  sql: string;
  /**
   * Stable per logical statement (derived from the run and the batch, never the attempt): submitting the same
   * token again returns the earlier query instead of running the statement twice.
   */
  idempotencyToken: string;
  /**
   * False when no earlier submission with this token can exist (the first attempt of a fresh token); lets an engine
   * without native idempotency (Trino) skip looking for one.
   */
  mayExist: boolean;
}

export interface QueryEngine {
  readonly kind: EngineKind;
  submit(request: SubmitRequest): Promise<QueryHandle>;
  /** One observation; for Trino this also advances the protocol, which keeps the query alive. */
  poll(handle: QueryHandle): Promise<QueryStatus>;
  cancel(handle: QueryHandle): Promise<void>;
  /**
   * Runs a read (metadata tables, lookups, tests) to its end: its rows, values as the engine sends them, and its cost.
   * When `signal` aborts (the caller gave up on it), the query is cancelled on the engine and the read rejects.
   */
  read(sql: string, signal?: AbortSignal): Promise<ReadResult>;
}

export const isTerminal = (state: QueryState): state is TerminalState => state !== 'QUEUED' && state !== 'RUNNING';
export type TerminalState = Exclude<QueryState, 'QUEUED' | 'RUNNING'>;

/**
 * Polls a submitted query until it ends, backing off from 100 ms to 2 s. When `signal` aborts, the query is cancelled
 * on the engine (nobody will follow it any more) and the wait rejects with the signal's reason.
 */
export async function pollToEnd(engine: QueryEngine, handle: QueryHandle, signal?: AbortSignal): Promise<QueryStatus> {
  try {
    for (let delay = 100; ; delay = Math.min(2000, delay * 2)) {
      signal?.throwIfAborted();
      const status = await engine.poll(handle);
      handle = status.handle;
      if (isTerminal(status.state)) return status;
      await sleep(delay, undefined, { signal });
    }
  } catch (err) {
    if (signal?.aborted) await engine.cancel(handle).catch(() => undefined); // best effort: the caller is gone
    throw signal?.aborted ? signal.reason : err;
  }
}

/** Thrown by submit/poll for transport-level trouble the caller may retry (throttling, 5xx, resets). */
export class TransientEngineError extends Error {
  override name = 'TransientEngineError';
}

/** Thrown when the engine refused a request in a way no retry can change (bad request, denied, misconfigured). */
export class PermanentEngineError extends Error {
  override name = 'PermanentEngineError';
}
