import { TransientEngineError, type QueryEngine, type QueryHandle, type QueryStatus, type ReadResult, type SubmitRequest } from './engine';

export interface ChaosOptions {
  /** Share of submits and polls that fail transiently (a submit fails before or after the engine accepted it). */
  transientRate: number;
  /** Share of succeeded statements reported as a commit conflict although they committed (the worst case). */
  conflictRate: number;
  /** Seeded for a replayable run. */
  random: () => number;
}

/**
 * Wraps an engine and makes it misbehave the way real deployments do: throttling, resets and 5xx on submit and
 * poll, and commit conflicts — reported after the statement in fact committed, so a resubmission must be harmless.
 * For fault-injection tests and benchmarks on the real stack.
 */
export class ChaosEngine implements QueryEngine {
  readonly kind;
  readonly injected = { transient: 0, conflicts: 0 };

  constructor(
    private readonly inner: QueryEngine,
    private readonly options: ChaosOptions,
  ) {
    this.kind = inner.kind;
  }

  async submit(request: SubmitRequest): Promise<QueryHandle> {
    const roll = this.options.random();
    if (roll < this.options.transientRate / 2) this.fail('connection reset before the submit reached the engine');
    const handle = await this.inner.submit(request);
    if (roll < this.options.transientRate) this.fail('503 after the engine accepted the submit');
    return handle;
  }

  async poll(handle: QueryHandle): Promise<QueryStatus> {
    if (this.options.random() < this.options.transientRate) this.fail('throttled while polling');
    const status = await this.inner.poll(handle);
    if (status.state !== 'SUCCEEDED' || this.options.random() >= this.options.conflictRate) return status;
    this.injected.conflicts++;
    const message = 'ICEBERG_COMMIT_ERROR: injected conflict (the statement did commit)';
    return { ...status, state: 'FAILED', error: { message, code: 'ICEBERG_COMMIT_ERROR', retryable: true } };
  }

  cancel(handle: QueryHandle): Promise<void> {
    return this.inner.cancel(handle);
  }

  read(sql: string): Promise<ReadResult> {
    return this.inner.read(sql);
  }

  private fail(what: string): never {
    this.injected.transient++;
    throw new TransientEngineError(`chaos: ${what}`);
  }
}
