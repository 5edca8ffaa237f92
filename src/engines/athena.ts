import {
  AthenaClient,
  GetQueryExecutionCommand,
  GetQueryResultsCommand,
  InvalidRequestException,
  QueryExecutionState,
  StartQueryExecutionCommand,
  StopQueryExecutionCommand,
  type QueryExecutionStatus,
} from '@aws-sdk/client-athena';
import { randomUUID } from 'node:crypto';
import {
  pollToEnd,
  TransientEngineError,
  type QueryEngine,
  type QueryError,
  type QueryHandle,
  type QueryState,
  type QueryStatus,
  type ReadResult,
  type SubmitRequest,
} from './engine';

export interface AthenaEngineOptions {
  client: AthenaClient;
  workGroup: string;
  /** Only needed when the workgroup does not enforce its own result location. */
  outputLocation?: string;
  catalog?: string;
  database: string;
}

// Athena rejects a ClientRequestToken outside this range, and only as a validation error after the call is made.
const MIN_TOKEN_LENGTH = 32;
const MAX_TOKEN_LENGTH = 128;

const STATES: Record<QueryExecutionState, QueryState> = {
  QUEUED: 'QUEUED',
  RUNNING: 'RUNNING',
  SUCCEEDED: 'SUCCEEDED',
  FAILED: 'FAILED',
  CANCELLED: 'CANCELLED',
};

const SYSTEM_ERROR_CATEGORY = 1;
// Another writer committed to the table first; the MERGE can be re-run against the new snapshot.
const COMMIT_CONFLICT = 'ICEBERG_COMMIT_ERROR';
// Athena prefixes most failure reasons with the engine's error name, e.g. "ICEBERG_COMMIT_ERROR: Failed to ...".
const LEADING_CODE = /^([A-Z][A-Z0-9_]*):/;

const THROTTLING_NAMES = new Set(['ThrottlingException', 'TooManyRequestsException']);

/** Turns the Status of a FAILED query execution into the engine-neutral error. */
export function classifyAthenaFailure(status: QueryExecutionStatus): QueryError {
  const athenaError = status.AthenaError;
  const message = status.StateChangeReason ?? athenaError?.ErrorMessage ?? 'Athena query failed without a reason';
  const code = athenaError?.ErrorType !== undefined ? String(athenaError.ErrorType) : LEADING_CODE.exec(message)?.[1];
  const retryable =
    athenaError?.Retryable === true ||
    message.includes(COMMIT_CONFLICT) ||
    // Older responses carry a category but no Retryable flag; system failures are worth another attempt.
    (athenaError?.ErrorCategory === SYSTEM_ERROR_CATEGORY && athenaError.Retryable === undefined);
  return code === undefined ? { message, retryable } : { message, code, retryable };
}

export class AthenaEngine implements QueryEngine {
  readonly kind = 'athena' as const;

  constructor(private readonly options: AthenaEngineOptions) {}

  async submit({ sql, idempotencyToken }: SubmitRequest): Promise<QueryHandle> {
    if (idempotencyToken.length < MIN_TOKEN_LENGTH || idempotencyToken.length > MAX_TOKEN_LENGTH) {
      throw new Error(
        `Athena idempotency token must be ${MIN_TOKEN_LENGTH}-${MAX_TOKEN_LENGTH} characters, got ${idempotencyToken.length}`,
      );
    }
    const { client, workGroup, outputLocation, catalog, database } = this.options;
    // The same ClientRequestToken returns the earlier QueryExecutionId, so a retried submit never runs the SQL twice.
    const output = await send(() =>
      client.send(
        new StartQueryExecutionCommand({
          QueryString: sql,
          ClientRequestToken: idempotencyToken,
          WorkGroup: workGroup,
          QueryExecutionContext: { Database: database, ...(catalog !== undefined && { Catalog: catalog }) },
          ...(outputLocation !== undefined && { ResultConfiguration: { OutputLocation: outputLocation } }),
        }),
      ),
    );
    if (!output.QueryExecutionId) {
      throw new Error('Athena StartQueryExecution returned no QueryExecutionId');
    }
    return { engine: 'athena', queryId: output.QueryExecutionId };
  }

  async poll(handle: QueryHandle): Promise<QueryStatus> {
    let output;
    try {
      output = await send(() => this.options.client.send(new GetQueryExecutionCommand({ QueryExecutionId: handle.queryId })));
    } catch (err) {
      // Athena answers InvalidRequestException "QueryExecution <id> was not found" for an id it does not know.
      if (err instanceof InvalidRequestException && /not found/i.test(err.message)) {
        return {
          handle,
          state: 'LOST',
          error: { message: `Athena does not know query ${handle.queryId}: ${err.message}`, retryable: true },
        };
      }
      throw err;
    }
    const execution = output.QueryExecution;
    const athenaState = execution?.Status?.State;
    const state = athenaState === undefined ? undefined : STATES[athenaState];
    if (execution?.Status === undefined || state === undefined) {
      throw new Error(`Athena query ${handle.queryId} has unknown state ${String(athenaState)}`);
    }
    const status: QueryStatus = {
      handle,
      state,
      stats: {
        executionMillis: execution.Statistics?.EngineExecutionTimeInMillis ?? 0,
        scannedBytes: execution.Statistics?.DataScannedInBytes ?? 0,
      },
    };
    if (state === 'FAILED') {
      status.error = classifyAthenaFailure(execution.Status);
    }
    return status;
  }

  async cancel(handle: QueryHandle): Promise<void> {
    await send(() => this.options.client.send(new StopQueryExecutionCommand({ QueryExecutionId: handle.queryId })));
  }

  /** A read to its end: every value comes back as Athena's text (VarCharValue), the header row dropped. */
  async read(sql: string, signal?: AbortSignal): Promise<ReadResult> {
    const handle = await this.submit({ sql, idempotencyToken: `icetide-read-${randomUUID()}`, mayExist: false });
    const status = await pollToEnd(this, handle, signal);
    if (status.state !== 'SUCCEEDED') throw new Error(`Athena query ${handle.queryId} ${status.state}: ${status.error?.message ?? ''}`);
    const rows: Record<string, unknown>[] = [];
    let columns: string[] = [];
    let token: string | undefined;
    do {
      const page = await send(() =>
        this.options.client.send(new GetQueryResultsCommand({ QueryExecutionId: handle.queryId, NextToken: token })),
      );
      columns = page.ResultSet?.ResultSetMetadata?.ColumnInfo?.map((c) => c.Name ?? '') ?? columns;
      const data = page.ResultSet?.Rows ?? [];
      for (const row of token === undefined ? data.slice(1) : data) {
        rows.push(Object.fromEntries(columns.map((name, i) => [name, row.Data?.[i]?.VarCharValue ?? null])));
      }
      token = page.NextToken;
    } while (token);
    return { rows, stats: status.stats ?? { executionMillis: 0, scannedBytes: 0 } };
  }
}

/** Runs one Athena API call, turning transport trouble the caller may retry into TransientEngineError. */
async function send<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (isTransient(err)) {
      throw new TransientEngineError(`${err.name}: ${err.message}`, { cause: err });
    }
    throw err;
  }
}

function isTransient(err: unknown): err is Error {
  if (!(err instanceof Error)) return false;
  const { $metadata, $retryable } = err as { $metadata?: { httpStatusCode?: number }; $retryable?: unknown };
  return THROTTLING_NAMES.has(err.name) || ($metadata?.httpStatusCode ?? 0) >= 500 || $retryable !== undefined;
}
