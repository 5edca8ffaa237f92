import { setTimeout as sleep } from 'node:timers/promises';
import { drawMillis, type Span } from '../config/slow';
import { isTerminal, type QueryEngine, type QueryHandle, type QueryStatus, type ReadResult, type SubmitRequest } from './engine';

export interface SlowTiming {
  /** How long a statement waits in the engine's queue before it runs. */
  queue: Span;
  /** The least a statement runs once out of the queue, however small (Athena takes seconds for a one-row MERGE). */
  statement: Span;
  /** How long a read takes (information_schema, `$files`, `$snapshots`, data tests), queueing included. */
  read: Span;
}

/**
 * Wraps an engine and gives it Athena's pace: each statement queues, then runs for at least `statement`, and each
 * read takes `read`. The inner engine does the work at its own speed meanwhile; a result that comes sooner is held
 * back (in this process) until its time. For the e2e suite in slow mode: no step may depend on how fast the engine is.
 */
export class SlowEngine implements QueryEngine {
  readonly kind;
  /** Per query: when it leaves the queue, when it may end, and its outcome once the inner engine has it. */
  private readonly pending = new Map<string, { running: number; done: number; outcome?: QueryStatus }>();

  constructor(
    private readonly inner: QueryEngine,
    private readonly timing: SlowTiming,
    private readonly random: () => number = Math.random,
  ) {
    this.kind = inner.kind;
  }

  async submit(request: SubmitRequest): Promise<QueryHandle> {
    const handle = await this.inner.submit(request);
    if (!this.pending.has(handle.queryId)) {
      const running = Date.now() + this.draw(this.timing.queue);
      this.pending.set(handle.queryId, { running, done: running + this.draw(this.timing.statement) });
    }
    return handle;
  }

  async poll(handle: QueryHandle): Promise<QueryStatus> {
    const query = this.pending.get(handle.queryId);
    if (!query) return this.inner.poll(handle); // submitted by another process, or already reported
    if (Date.now() < query.running) return { handle, state: 'QUEUED' };
    if (!query.outcome) {
      const status = await this.inner.poll(handle); // Trino must be followed while it runs
      if (!isTerminal(status.state)) return status;
      query.outcome = status; // never polled again: a Trino query's last nextUri is spent
    }
    if (Date.now() < query.done) return { handle: query.outcome.handle, state: 'RUNNING' };
    this.pending.delete(handle.queryId);
    return query.outcome;
  }

  cancel(handle: QueryHandle): Promise<void> {
    this.pending.delete(handle.queryId);
    return this.inner.cancel(handle);
  }

  async read(sql: string, signal?: AbortSignal): Promise<ReadResult> {
    const taking = sleep(this.draw(this.timing.read), undefined, { signal }).catch(() => signal?.throwIfAborted());
    const [result] = await Promise.all([this.inner.read(sql, signal), taking]);
    return result;
  }

  private draw(span: Span): number {
    return drawMillis(span, this.random);
  }
}
