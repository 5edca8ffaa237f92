import type { QueryEngine, QueryError, QueryHandle, QueryStats, QueryStatus, ReadResult, SubmitRequest } from './engine';
import { PermanentEngineError, TransientEngineError } from './engine';
import { userInfoOf, withoutUserInfo } from '../config/urls';
import { quoteString } from '../sql/identifiers';

/**
 * Trino over its REST protocol. Hand-written rather than trino-client because icetide must resume following a
 * query's `nextUri` on another worker after a crash (the URI travels in activity heartbeats); trino-client only
 * drives a query from start to end inside one process.
 */
export interface TrinoEngineOptions {
  /** e.g. http://127.0.0.1:8080 */
  url: string;
  user: string;
  /** The session's catalog: names without one (a model's `shop.orders`) resolve in it. */
  catalog?: string;
  /** Per HTTP request; a poll is one long-poll of about a second. Below the activities' heartbeat timeout. */
  fetchTimeoutMillis?: number;
}

interface TrinoResults {
  id: string;
  nextUri?: string;
  columns?: { name: string }[];
  data?: unknown[][];
  updateCount?: number;
  stats: { state: string; elapsedTimeMillis?: number; queuedTimeMillis?: number; physicalInputBytes?: number; processedBytes?: number };
  error?: { message: string; errorName?: string; errorType?: string };
}

interface TrinoQueryInfo {
  queryId: string;
  state: string;
  /** A statement that changes something (INSERT, MERGE, CREATE TABLE AS, ...); absent for a SELECT. */
  updateType?: string;
  /** Every stage has its tasks: no driver is still to be created. */
  scheduled?: boolean;
  errorCode?: { name: string; type: string };
  failureInfo?: { message?: string };
  queryStats?: {
    elapsedTime?: string;
    queuedTime?: string;
    physicalInputDataSize?: string;
    totalDrivers?: number;
    completedDrivers?: number;
  };
}

const statsOf = (results: TrinoResults): QueryStats => ({
  executionMillis: Math.max(0, (results.stats.elapsedTimeMillis ?? 0) - (results.stats.queuedTimeMillis ?? 0)),
  scannedBytes: results.stats.physicalInputBytes ?? results.stats.processedBytes ?? 0,
});

/** Tags name a statement in system.runtime.queries (the `source` column) so a retried submit can find it. */
export const trinoTag = (idempotencyToken: string): string => `icetide-${idempotencyToken}`;

const RETRYABLE_ERROR_NAMES = new Set([
  'ICEBERG_COMMIT_ERROR',
  'ABANDONED_QUERY',
  'SERVER_SHUTTING_DOWN',
  'SERVER_STARTING_UP',
  'REMOTE_TASK_ERROR',
  'REMOTE_HOST_GONE',
  'TOO_MANY_REQUESTS_FAILED',
  'PAGE_TRANSPORT_TIMEOUT',
]);

export function classifyTrinoError(error: { message: string; errorName?: string; errorType?: string }): QueryError {
  const code = error.errorName;
  const retryable =
    (code !== undefined && RETRYABLE_ERROR_NAMES.has(code)) ||
    error.errorType === 'INTERNAL_ERROR' ||
    error.errorType === 'INSUFFICIENT_RESOURCES';
  return { message: error.message, code, retryable };
}

const RUNNING_STATES = new Set(['PLANNING', 'STARTING', 'RUNNING', 'FINISHING']);

export class TrinoEngine implements QueryEngine {
  readonly kind = 'trino' as const;
  /** The coordinator's URL without user info: what requests go to and what messages show. */
  private readonly url: string;
  /** Credentials the configured URL carried, sent as HTTP basic authentication (fetch refuses a URL with them). */
  private readonly authorization?: string;

  constructor(private readonly options: TrinoEngineOptions) {
    this.url = withoutUserInfo(options.url).replace(/\/$/, '');
    const credentials = userInfoOf(options.url);
    if (credentials) this.authorization = `Basic ${Buffer.from(`${credentials.user}:${credentials.password}`).toString('base64')}`;
  }

  async submit({ sql, idempotencyToken, mayExist }: SubmitRequest): Promise<QueryHandle> {
    const tag = trinoTag(idempotencyToken);
    const earlier = mayExist ? await this.findByTag(tag) : undefined;
    if (earlier?.state === 'FINISHED') return { engine: 'trino', queryId: earlier.queryId };
    if (earlier && earlier.state !== 'FAILED') {
      // Submitted by an attempt that died before handing back its nextUri: nobody can drive that query now, and
      // Trino would abandon it only after query.client.timeout (5 min). Stop it and submit again; Iceberg commits are
      // atomic, so it either committed (and the versioned statement repeats as a no-op) or it never will.
      await this.cancel({ engine: 'trino', queryId: earlier.queryId });
    }
    const results = await this.post(sql, tag);
    return { engine: 'trino', queryId: results.id, nextUri: results.nextUri };
  }

  async poll(handle: QueryHandle): Promise<QueryStatus> {
    try {
      if (!handle.nextUri) return await this.pollInfo(handle);
      try {
        return this.statusOf(await this.call<TrinoResults>('GET', handle.nextUri), handle);
      } catch (err) {
        if (!(err instanceof QueryNotFound)) throw err;
        // 404/410 on a nextUri: the coordinator forgot the query (a restart), or the URI is stale (a worker that died
        // had fetched past the one in its last heartbeat). Only Trino, asked by the query's id, can tell: a query it
        // still runs is watched by id to its end, never submitted a second time beside it.
        return await this.pollInfo({ engine: handle.engine, queryId: handle.queryId });
      }
    } catch (err) {
      // A restarted coordinator has forgotten every query: the handle points at nothing any more.
      if (err instanceof QueryNotFound) return lost(handle, `Trino no longer knows query ${handle.queryId} (${err.message})`);
      throw err;
    }
  }

  async cancel(handle: QueryHandle): Promise<void> {
    await this.call('DELETE', handle.nextUri ?? `${this.url}/v1/query/${encodeURIComponent(handle.queryId)}`).catch((err) => {
      if (!(err instanceof QueryNotFound)) throw err; // a forgotten query runs no more
    });
  }

  /**
   * Runs a statement to its end and returns its rows (DDL, lookups, tests). Following `nextUri` is what keeps a Trino
   * query going, so an abort stops following it and cancels the query at once rather than leaving it to time out.
   */
  read(sql: string, signal?: AbortSignal): Promise<ReadResult> {
    return this.readTagged(sql, 'icetide', signal);
  }

  /** The rows of a short statement (tests, the demo, lookups). */
  async query(sql: string, source = 'icetide'): Promise<Record<string, unknown>[]> {
    return (await this.readTagged(sql, source)).rows;
  }

  private async readTagged(sql: string, source: string, signal?: AbortSignal): Promise<ReadResult> {
    let results = await this.post(sql, source, signal);
    const rows: Record<string, unknown>[] = [];
    try {
      for (;;) {
        if (results.error) {
          const error = classifyTrinoError(results.error);
          throw Object.assign(new Error(`Trino query ${results.id} failed: ${error.message}`), {
            code: error.code,
            retryable: error.retryable,
          });
        }
        for (const row of results.data ?? []) {
          rows.push(Object.fromEntries((results.columns ?? []).map((c, i) => [c.name, row[i]])));
        }
        if (!results.nextUri) return { rows, stats: statsOf(results) };
        results = await this.call<TrinoResults>('GET', results.nextUri, undefined, undefined, signal);
      }
    } catch (err) {
      if (!signal?.aborted) throw err;
      await this.cancel({ engine: 'trino', queryId: results.id }).catch(() => undefined); // best effort: the caller is gone
      throw signal.reason;
    }
  }

  /** Submits a statement. A coordinator still starting up refuses it at once: that is worth a retry, not a failure. */
  private async post(sql: string, source: string, signal?: AbortSignal): Promise<TrinoResults> {
    const results = await this.call<TrinoResults>('POST', `${this.url}/v1/statement`, sql, source, signal);
    if (results.error?.errorName === 'SERVER_STARTING_UP') throw new TransientEngineError(`Trino at ${this.url} is starting up`);
    return results;
  }

  private async findByTag(tag: string): Promise<{ queryId: string; state: string } | undefined> {
    const rows = await this.query(
      `SELECT query_id, state FROM system.runtime.queries WHERE source = ${quoteString(tag)} ORDER BY created DESC`,
      'icetide-lookup',
    );
    const live = rows.find((r) => r.state !== 'FAILED') ?? rows[0];
    return live ? { queryId: String(live.query_id), state: String(live.state) } : undefined;
  }

  private statusOf(results: TrinoResults, handle: QueryHandle): QueryStatus {
    const stats = statsOf(results);
    if (results.id !== handle.queryId) return lost(handle, `Trino answered for query ${results.id} instead of ${handle.queryId}`);
    const next: QueryHandle = { ...handle, nextUri: results.nextUri ?? handle.nextUri };
    const updatedRows = results.updateCount;
    if (results.error?.errorName === 'ABANDONED_QUERY') return lost(handle, results.error.message);
    if (results.error) {
      const state = results.error.errorName === 'USER_CANCELED' ? 'CANCELLED' : 'FAILED';
      return { handle: next, state, stats, error: classifyTrinoError(results.error), updatedRows };
    }
    if (!results.nextUri) return { handle: next, state: 'SUCCEEDED', stats, updatedRows };
    return { handle: next, state: RUNNING_STATES.has(results.stats.state) ? 'RUNNING' : 'QUEUED', stats, updatedRows };
  }

  /** Status of a query whose nextUri was lost (a crash right after submit): observe it, do not drive it. */
  private async pollInfo(handle: QueryHandle): Promise<QueryStatus> {
    const info = await this.call<TrinoQueryInfo>('GET', `${this.url}/v1/query/${encodeURIComponent(handle.queryId)}`);
    const stats = {
      executionMillis: Math.max(0, parseDuration(info.queryStats?.elapsedTime) - parseDuration(info.queryStats?.queuedTime)),
      scannedBytes: parseDataSize(info.queryStats?.physicalInputDataSize),
    };
    if (info.state === 'FINISHED') return { handle, state: 'SUCCEEDED', stats };
    if (RUNNING_STATES.has(info.state) && workDone(info)) {
      // Its commit is made (the table-finish step is one of its drivers); only its row count waits for a client that
      // no longer exists, and Trino would hold it for query.client.timeout (5 min) before abandoning it. End it now.
      await this.cancel(handle);
      return { handle, state: 'SUCCEEDED', stats };
    }
    if (info.errorCode?.name === 'ABANDONED_QUERY') return lost(handle, info.failureInfo?.message ?? 'query abandoned');
    if (info.state === 'FAILED') {
      const error = classifyTrinoError({
        message: info.failureInfo?.message ?? 'query failed',
        errorName: info.errorCode?.name,
        errorType: info.errorCode?.type,
      });
      return { handle, state: error.code === 'USER_CANCELED' ? 'CANCELLED' : 'FAILED', stats, error };
    }
    return { handle, state: RUNNING_STATES.has(info.state) ? 'RUNNING' : 'QUEUED', stats };
  }

  private async call<T>(method: string, url: string, body?: string, source?: string, signal?: AbortSignal): Promise<T> {
    const headers: Record<string, string> = { 'X-Trino-User': this.options.user };
    if (this.authorization) headers.Authorization = this.authorization;
    if (source) headers['X-Trino-Source'] = source;
    if (this.options.catalog) headers['X-Trino-Catalog'] = this.options.catalog;
    let response: Response;
    try {
      response = await fetch(url, { method, headers, body, signal: withTimeout(signal, this.options.fetchTimeoutMillis ?? 10_000) });
    } catch (err) {
      signal?.throwIfAborted();
      throw new TransientEngineError(`Trino at ${this.url} unreachable: ${(err as Error).message}`);
    }
    if (response.status === 429 || response.status === 502 || response.status === 503 || response.status === 504) {
      throw new TransientEngineError(`Trino answered ${response.status} to ${method} ${url}`);
    }
    const answer = () => `Trino answered ${response.status} to ${method} ${url}`;
    if (response.status === 404 || response.status === 410) throw new QueryNotFound(`${answer()}: ${await response.text()}`);
    if (!response.ok) throw new PermanentEngineError(`${answer()}: ${await response.text()}`);
    return (method === 'DELETE' ? undefined : await response.json()) as T;
  }
}

class QueryNotFound extends Error {}

/** A statement whose every driver has finished, its commit included: what is left is handing its result to a client. */
const workDone = (info: TrinoQueryInfo): boolean =>
  !!info.updateType &&
  info.scheduled === true &&
  (info.queryStats?.totalDrivers ?? 0) > 0 &&
  info.queryStats?.completedDrivers === info.queryStats?.totalDrivers;

const withTimeout = (signal: AbortSignal | undefined, millis: number): AbortSignal =>
  signal ? AbortSignal.any([signal, AbortSignal.timeout(millis)]) : AbortSignal.timeout(millis);

const lost = (handle: QueryHandle, message: string): QueryStatus => ({ handle, state: 'LOST', error: { message, retryable: true } });

function parseDuration(text?: string): number {
  const match = /^([\d.]+)(ns|us|ms|s|m|h|d)$/.exec(text ?? '');
  if (!match) return 0;
  const unit = { ns: 1e-6, us: 1e-3, ms: 1, s: 1e3, m: 6e4, h: 3.6e6, d: 8.64e7 }[match[2] as 'ms'];
  return Number(match[1]) * unit;
}

function parseDataSize(text?: string): number {
  const match = /^([\d.]+)(B|kB|MB|GB|TB|PB)$/.exec(text ?? '');
  if (!match) return 0;
  const unit = { B: 1, kB: 2 ** 10, MB: 2 ** 20, GB: 2 ** 30, TB: 2 ** 40, PB: 2 ** 50 }[match[2] as 'B'];
  return Math.round(Number(match[1]) * unit);
}
