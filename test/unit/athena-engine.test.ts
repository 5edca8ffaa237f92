import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  AthenaClient,
  AthenaServiceException,
  GetQueryExecutionCommand,
  GetQueryResultsCommand,
  InternalServerException,
  InvalidRequestException,
  StartQueryExecutionCommand,
  StopQueryExecutionCommand,
  TooManyRequestsException,
  type GetQueryExecutionCommandOutput,
  type QueryExecutionStatistics,
  type QueryExecutionStatus,
} from '@aws-sdk/client-athena';
import { mockClient } from 'aws-sdk-client-mock';
import { AthenaEngine, classifyAthenaFailure } from '../../src/engines/athena';
import { TransientEngineError, type QueryHandle } from '../../src/engines/engine';

const QUERY_ID = '5c1e2f0a-8d4b-4a6e-9f3c-2b7d1e0a9c41';
const HANDLE: QueryHandle = { engine: 'athena', queryId: QUERY_ID };
const MERGE_SQL = `MERGE INTO cdc.orders t USING cdc.orders_stage s ON t.order_id = s.order_id
WHEN MATCHED AND s.op = 'D' THEN DELETE
WHEN MATCHED THEN UPDATE SET status = s.status, updated_at = s.updated_at
WHEN NOT MATCHED AND s.op <> 'D' THEN INSERT (order_id, status, updated_at) VALUES (s.order_id, s.status, s.updated_at)`;

// Tokens are derived from the run and batch, as the workflow does: 64 hex characters.
const token = (seed: string): string => createHash('sha256').update(seed).digest('hex');

const metadata = (httpStatusCode: number) => ({
  httpStatusCode,
  requestId: '0b6f6b3e-5f41-4c6a-a1d2-7c9e8f3b2a10',
  attempts: 1,
  totalRetryDelay: 0,
});

// Shaped like a recorded GetQueryExecution response for a MERGE in an Iceberg table.
function execution(status: QueryExecutionStatus, statistics: QueryExecutionStatistics): GetQueryExecutionCommandOutput {
  return {
    $metadata: metadata(200),
    QueryExecution: {
      QueryExecutionId: QUERY_ID,
      Query: MERGE_SQL,
      StatementType: 'DML',
      ResultConfiguration: { OutputLocation: `s3://icetide-athena-results/${QUERY_ID}.txt` },
      ResultReuseConfiguration: { ResultReuseByAgeConfiguration: { Enabled: false } },
      QueryExecutionContext: { Database: 'cdc', Catalog: 'awsdatacatalog' },
      Status: { SubmissionDateTime: new Date('2025-03-14T09:26:53.412Z'), ...status },
      Statistics: statistics,
      WorkGroup: 'icetide',
      EngineVersion: { SelectedEngineVersion: 'AUTO', EffectiveEngineVersion: 'Athena engine version 3' },
    },
  };
}

const COMPLETED = new Date('2025-03-14T09:27:41.907Z');
const FINISHED_STATS: QueryExecutionStatistics = {
  EngineExecutionTimeInMillis: 46218,
  DataScannedInBytes: 734_003_200,
  TotalExecutionTimeInMillis: 48495,
  QueryQueueTimeInMillis: 1204,
  ServicePreProcessingTimeInMillis: 311,
  QueryPlanningTimeInMillis: 2087,
  ServiceProcessingTimeInMillis: 762,
  ResultReuseInformation: { ReusedPreviousResult: false },
};

describe('AthenaEngine', () => {
  const client = new AthenaClient({
    region: 'eu-west-1',
    credentials: { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' },
  });
  const athena = mockClient(client);
  const engine = new AthenaEngine({
    client,
    workGroup: 'icetide',
    outputLocation: 's3://icetide-athena-results/',
    catalog: 'awsdatacatalog',
    database: 'cdc',
  });

  beforeEach(() => athena.reset());
  after(() => athena.restore());

  describe('submit', () => {
    it('sends the token, workgroup, catalog, database and output location', async () => {
      athena.on(StartQueryExecutionCommand).resolves({ $metadata: metadata(200), QueryExecutionId: QUERY_ID });

      const handle = await engine.submit({ sql: MERGE_SQL, idempotencyToken: token('run-42/batch-7'), mayExist: false });

      assert.deepEqual(handle, { engine: 'athena', queryId: QUERY_ID });
      const calls = athena.commandCalls(StartQueryExecutionCommand);
      assert.equal(calls.length, 1);
      assert.deepEqual(calls[0]!.args[0].input, {
        QueryString: MERGE_SQL,
        ClientRequestToken: token('run-42/batch-7'),
        WorkGroup: 'icetide',
        QueryExecutionContext: { Catalog: 'awsdatacatalog', Database: 'cdc' },
        ResultConfiguration: { OutputLocation: 's3://icetide-athena-results/' },
      });
    });

    it('leaves the result location and catalog to the workgroup when not configured', async () => {
      athena.on(StartQueryExecutionCommand).resolves({ $metadata: metadata(200), QueryExecutionId: QUERY_ID });
      const bare = new AthenaEngine({ client, workGroup: 'icetide', database: 'cdc' });

      await bare.submit({ sql: MERGE_SQL, idempotencyToken: token('run-42/batch-7'), mayExist: false });

      const input = athena.commandCalls(StartQueryExecutionCommand)[0]!.args[0].input;
      assert.equal('ResultConfiguration' in input, false);
      assert.deepEqual(input.QueryExecutionContext, { Database: 'cdc' });
    });

    it('returns the same query id when the same token is submitted again', async () => {
      // Athena's behaviour: one QueryExecutionId per ClientRequestToken.
      const ids = new Map<string, string>();
      athena.on(StartQueryExecutionCommand).callsFake((input: { ClientRequestToken?: string }) => {
        const key = input.ClientRequestToken ?? '';
        if (!ids.has(key)) ids.set(key, `0d9a7c3e-1f2b-4c5d-8e6f-${String(ids.size).padStart(12, '0')}`);
        return { $metadata: metadata(200), QueryExecutionId: ids.get(key) };
      });

      const first = await engine.submit({ sql: MERGE_SQL, idempotencyToken: token('run-42/batch-7'), mayExist: false });
      const retried = await engine.submit({ sql: MERGE_SQL, idempotencyToken: token('run-42/batch-7'), mayExist: false });
      const next = await engine.submit({ sql: MERGE_SQL, idempotencyToken: token('run-42/batch-8'), mayExist: false });

      assert.equal(retried.queryId, first.queryId);
      assert.notEqual(next.queryId, first.queryId);
      const sentTokens = athena.commandCalls(StartQueryExecutionCommand).map((c) => c.args[0].input.ClientRequestToken);
      assert.deepEqual(sentTokens, [token('run-42/batch-7'), token('run-42/batch-7'), token('run-42/batch-8')]);
    });

    it('rejects tokens Athena would refuse, without calling Athena', async () => {
      await assert.rejects(engine.submit({ sql: MERGE_SQL, idempotencyToken: 'a'.repeat(31), mayExist: false }), {
        message: 'Athena idempotency token must be 32-128 characters, got 31',
      });
      await assert.rejects(engine.submit({ sql: MERGE_SQL, idempotencyToken: 'a'.repeat(129), mayExist: false }), {
        message: 'Athena idempotency token must be 32-128 characters, got 129',
      });
      assert.equal(athena.commandCalls(StartQueryExecutionCommand).length, 0);
    });

    it('turns ThrottlingException into TransientEngineError', async () => {
      const throttled = new AthenaServiceException({
        name: 'ThrottlingException',
        $fault: 'client',
        $metadata: metadata(400),
        message: 'Rate exceeded',
      });
      athena.on(StartQueryExecutionCommand).rejects(throttled);

      await assert.rejects(engine.submit({ sql: MERGE_SQL, idempotencyToken: token('run-42/batch-7'), mayExist: false }), (err) => {
        assert.ok(err instanceof TransientEngineError);
        assert.equal(err.message, 'ThrottlingException: Rate exceeded');
        assert.equal(err.cause, throttled);
        return true;
      });
    });

    it('turns TooManyRequestsException into TransientEngineError', async () => {
      athena.on(StartQueryExecutionCommand).rejects(
        new TooManyRequestsException({
          $metadata: metadata(400),
          message: 'You have exceeded the limit for the number of queries you can run concurrently.',
          Reason: 'CONCURRENT_QUERY_LIMIT_EXCEEDED',
        }),
      );

      await assert.rejects(engine.submit({ sql: MERGE_SQL, idempotencyToken: token('run-42/batch-7'), mayExist: false }), (err) => {
        assert.ok(err instanceof TransientEngineError);
        assert.equal(
          err.message,
          'TooManyRequestsException: You have exceeded the limit for the number of queries you can run concurrently.',
        );
        return true;
      });
    });

    it('rethrows AccessDeniedException unchanged', async () => {
      const denied = new AthenaServiceException({
        name: 'AccessDeniedException',
        $fault: 'client',
        $metadata: metadata(400),
        message:
          'User: arn:aws:sts::123456789012:assumed-role/icetide-worker/i-0abc is not authorized to perform: ' +
          'athena:StartQueryExecution on resource: arn:aws:athena:eu-west-1:123456789012:workgroup/icetide',
      });
      athena.on(StartQueryExecutionCommand).rejects(denied);

      await assert.rejects(engine.submit({ sql: MERGE_SQL, idempotencyToken: token('run-42/batch-7'), mayExist: false }), (err) => {
        assert.equal(err, denied);
        assert.ok(!(err instanceof TransientEngineError));
        return true;
      });
    });
  });

  describe('poll', () => {
    it('follows QUEUED, RUNNING and SUCCEEDED, mapping the statistics', async () => {
      athena
        .on(GetQueryExecutionCommand, { QueryExecutionId: QUERY_ID })
        .resolvesOnce(
          execution(
            { State: 'QUEUED' },
            { TotalExecutionTimeInMillis: 212, QueryQueueTimeInMillis: 212, ResultReuseInformation: { ReusedPreviousResult: false } },
          ),
        )
        .resolvesOnce(
          execution(
            { State: 'RUNNING' },
            {
              EngineExecutionTimeInMillis: 18734,
              DataScannedInBytes: 301_989_888,
              TotalExecutionTimeInMillis: 20101,
              QueryQueueTimeInMillis: 1204,
              ResultReuseInformation: { ReusedPreviousResult: false },
            },
          ),
        )
        .resolvesOnce(execution({ State: 'SUCCEEDED', CompletionDateTime: COMPLETED }, FINISHED_STATS));

      const observed = [await engine.poll(HANDLE), await engine.poll(HANDLE), await engine.poll(HANDLE)];

      assert.deepEqual(observed, [
        { handle: HANDLE, state: 'QUEUED', stats: { executionMillis: 0, scannedBytes: 0 } },
        { handle: HANDLE, state: 'RUNNING', stats: { executionMillis: 18734, scannedBytes: 301_989_888 } },
        { handle: HANDLE, state: 'SUCCEEDED', stats: { executionMillis: 46218, scannedBytes: 734_003_200 } },
      ]);
      assert.equal(athena.commandCalls(GetQueryExecutionCommand).length, 3);
    });

    it('reports a user error as FAILED and not retryable, keeping the message', async () => {
      const reason = "TABLE_NOT_FOUND: line 1:12: Table 'awsdatacatalog.cdc.orders' does not exist";
      athena.on(GetQueryExecutionCommand).resolves(
        execution(
          {
            State: 'FAILED',
            StateChangeReason: reason,
            CompletionDateTime: COMPLETED,
            AthenaError: { ErrorCategory: 2, ErrorType: 1006, Retryable: false, ErrorMessage: reason },
          },
          { EngineExecutionTimeInMillis: 402, DataScannedInBytes: 0, TotalExecutionTimeInMillis: 655 },
        ),
      );

      const status = await engine.poll(HANDLE);

      assert.equal(status.state, 'FAILED');
      assert.deepEqual(status.error, { message: reason, code: '1006', retryable: false });
      assert.deepEqual(status.stats, { executionMillis: 402, scannedBytes: 0 });
    });

    it('reports an Iceberg commit conflict as FAILED and retryable', async () => {
      const reason = 'ICEBERG_COMMIT_ERROR: Failed to commit Iceberg update to table: cdc.orders';
      athena.on(GetQueryExecutionCommand).resolves(
        execution(
          {
            State: 'FAILED',
            StateChangeReason: reason,
            CompletionDateTime: COMPLETED,
            AthenaError: { ErrorCategory: 1, ErrorType: 233, Retryable: true, ErrorMessage: reason },
          },
          FINISHED_STATS,
        ),
      );

      const status = await engine.poll(HANDLE);

      assert.equal(status.state, 'FAILED');
      assert.deepEqual(status.error, { message: reason, code: '233', retryable: true });
    });

    it('reports CANCELLED without an error', async () => {
      athena
        .on(GetQueryExecutionCommand)
        .resolves(
          execution(
            { State: 'CANCELLED', StateChangeReason: 'Query cancelled by user', CompletionDateTime: COMPLETED },
            { EngineExecutionTimeInMillis: 9120, DataScannedInBytes: 104_857_600, TotalExecutionTimeInMillis: 9987 },
          ),
        );

      const status = await engine.poll(HANDLE);

      assert.deepEqual(status, {
        handle: HANDLE,
        state: 'CANCELLED',
        stats: { executionMillis: 9120, scannedBytes: 104_857_600 },
      });
    });

    it('turns a 5xx from GetQueryExecution into TransientEngineError', async () => {
      athena
        .on(GetQueryExecutionCommand)
        .rejects(new InternalServerException({ $metadata: metadata(500), message: 'Internal service error' }));

      await assert.rejects(engine.poll(HANDLE), (err) => {
        assert.ok(err instanceof TransientEngineError);
        assert.equal(err.message, 'InternalServerException: Internal service error');
        return true;
      });
    });

    it('reports a query execution Athena no longer knows as LOST, so the workflow submits again', async () => {
      athena.on(GetQueryExecutionCommand).rejects(
        new InvalidRequestException({
          $metadata: metadata(400),
          message: `QueryExecution ${QUERY_ID} was not found`,
          AthenaErrorCode: 'INVALID_INPUT',
        }),
      );

      const status = await engine.poll(HANDLE);

      assert.equal(status.state, 'LOST');
      assert.equal(status.error?.retryable, true);
      assert.match(status.error?.message ?? '', /was not found/);
    });

    it('rethrows any other InvalidRequestException unchanged', async () => {
      athena
        .on(GetQueryExecutionCommand)
        .rejects(new InvalidRequestException({ $metadata: metadata(400), message: 'Query execution id is malformed' }));

      await assert.rejects(engine.poll(HANDLE), (err) => err instanceof InvalidRequestException);
    });
  });

  describe('read', () => {
    it('runs a read to its end and returns every page of rows as text, without the header row, and its cost', async () => {
      athena.on(StartQueryExecutionCommand).resolves({ $metadata: metadata(200), QueryExecutionId: QUERY_ID });
      athena
        .on(GetQueryExecutionCommand)
        .resolvesOnce({ $metadata: metadata(200), QueryExecution: { QueryExecutionId: QUERY_ID, Status: { State: 'RUNNING' } } })
        .resolves({
          $metadata: metadata(200),
          QueryExecution: {
            QueryExecutionId: QUERY_ID,
            Status: { State: 'SUCCEEDED' },
            Statistics: { EngineExecutionTimeInMillis: 340, DataScannedInBytes: 2048 },
          },
        });
      const columns = {
        ColumnInfo: [
          { Name: 'snapshots', Type: 'bigint' },
          { Name: 'expirable', Type: 'bigint' },
        ],
      };
      const row = (...values: (string | undefined)[]) => ({ Data: values.map((VarCharValue) => ({ VarCharValue })) });
      athena
        .on(GetQueryResultsCommand)
        .resolvesOnce({
          $metadata: metadata(200),
          ResultSet: { ResultSetMetadata: columns, Rows: [row('snapshots', 'expirable'), row('12', '3')] },
          NextToken: 'page-2',
        })
        .resolvesOnce({ $metadata: metadata(200), ResultSet: { ResultSetMetadata: columns, Rows: [row('4', undefined)] } });

      const { rows, stats } = await engine.read('SELECT count(*) AS snapshots, ... FROM "cdc"."orders$snapshots"');

      assert.deepEqual(rows, [
        { snapshots: '12', expirable: '3' },
        { snapshots: '4', expirable: null },
      ]);
      assert.deepEqual(stats, { executionMillis: 340, scannedBytes: 2048 });
      const pages = athena.commandCalls(GetQueryResultsCommand).map((c) => c.args[0].input.NextToken);
      assert.deepEqual(pages, [undefined, 'page-2']);
    });

    it('fails with the engine message when the read fails', async () => {
      athena.on(StartQueryExecutionCommand).resolves({ $metadata: metadata(200), QueryExecutionId: QUERY_ID });
      athena.on(GetQueryExecutionCommand).resolves({
        $metadata: metadata(200),
        QueryExecution: { QueryExecutionId: QUERY_ID, Status: { State: 'FAILED', StateChangeReason: 'TABLE_NOT_FOUND: no such table' } },
      });
      await assert.rejects(engine.read('SELECT 1'), /FAILED: TABLE_NOT_FOUND: no such table/);
    });
  });

  describe('cancel', () => {
    it('sends StopQueryExecution for the handle', async () => {
      athena.on(StopQueryExecutionCommand).resolves({ $metadata: metadata(200) });

      await engine.cancel(HANDLE);

      const calls = athena.commandCalls(StopQueryExecutionCommand);
      assert.equal(calls.length, 1);
      assert.deepEqual(calls[0]!.args[0].input, { QueryExecutionId: QUERY_ID });
    });
  });
});

describe('classifyAthenaFailure', () => {
  it('retries a commit conflict even when Athena marks it not retryable', () => {
    const reason = 'ICEBERG_COMMIT_ERROR: Failed to commit Iceberg update to table: cdc.orders';
    const error = classifyAthenaFailure({
      State: 'FAILED',
      StateChangeReason: reason,
      AthenaError: { ErrorCategory: 2, ErrorType: 233, Retryable: false, ErrorMessage: reason },
    });
    assert.equal(error.retryable, true);
  });

  it('follows the Retryable flag for ICEBERG_OPTIMIZE_MORE_RUNS_NEEDED', () => {
    const reason = 'ICEBERG_OPTIMIZE_MORE_RUNS_NEEDED: Optimize needs to be run again to finish compacting cdc.orders';
    const error = classifyAthenaFailure({
      State: 'FAILED',
      StateChangeReason: reason,
      AthenaError: { ErrorCategory: 2, ErrorType: 233, Retryable: false, ErrorMessage: reason },
    });
    assert.deepEqual(error, { message: reason, code: '233', retryable: false });
  });

  it('retries a system error that carries no Retryable flag, using ErrorMessage when there is no reason', () => {
    const error = classifyAthenaFailure({
      State: 'FAILED',
      AthenaError: {
        ErrorCategory: 1,
        ErrorType: 100,
        ErrorMessage: 'Amazon Athena experienced an internal error while executing this query.',
      },
    });
    assert.deepEqual(error, {
      message: 'Amazon Athena experienced an internal error while executing this query.',
      code: '100',
      retryable: true,
    });
  });

  it('parses the code from the reason when there is no AthenaError', () => {
    const reason = 'HIVE_METASTORE_ERROR: Required Table Storage Descriptor is not populated.';
    assert.deepEqual(classifyAthenaFailure({ State: 'FAILED', StateChangeReason: reason }), {
      message: reason,
      code: 'HIVE_METASTORE_ERROR',
      retryable: false,
    });
  });
});
