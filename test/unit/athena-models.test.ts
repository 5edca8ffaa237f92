import assert from 'node:assert/strict';
import { GetQueryExecutionCommand, GetQueryResultsCommand, StartQueryExecutionCommand } from '@aws-sdk/client-athena';
import { MockActivityEnvironment } from '@temporalio/testing';
import { modelDefinitionSchema } from '../../src/config/models';
import type { ReadResult } from '../../src/engines/engine';
import type { QueryOutcome } from '../../src/shared';
import { META, recordedAthena, resultPage } from './recorded-athena';

const QUERY_ID = '5b1d0c7e-9a2f-4c3b-8d6e-0f1a2b3c4d5e';
const TOKEN = 'icetide-3c2b1a09-8f7e-6d5c-4b3a-291807f6e5d4-2';

/**
 * A model's activities on an Athena engine whose API answers as recorded: the CTAS with its warehouse location and
 * the workflow's token, a retried attempt that resumes following the query instead of submitting again, the one
 * query for all data tests, and the source snapshots read back from Athena's text results.
 */
describe('model activities on Athena (recorded API behaviour)', () => {
  const { athena, activities } = recordedAthena('analytics', { warehouse: 's3://lake/warehouse/', poll: { initialMs: 1, maxMs: 1 } });
  const model = modelDefinitionSchema.parse({
    name: 'revenue',
    database: 'analytics',
    materialization: 'table',
    sql: 'SELECT product, sum(amount) AS revenue FROM shop.orders GROUP BY 1',
    tests: [{ not_null: ['product'] }, { unique: ['product'] }],
  });
  const succeeded = {
    $metadata: META,
    QueryExecution: {
      QueryExecutionId: QUERY_ID,
      Status: { State: 'SUCCEEDED' as const },
      Statistics: { EngineExecutionTimeInMillis: 1200, DataScannedInBytes: 5_000_000 },
    },
  };

  beforeEach(() => athena.reset());
  after(() => athena.restore());

  it('builds a version by CTAS as Iceberg under the warehouse, with the token, and follows it to its end', async () => {
    athena.on(StartQueryExecutionCommand).resolves({ $metadata: META, QueryExecutionId: QUERY_ID });
    athena
      .on(GetQueryExecutionCommand)
      .resolvesOnce({ $metadata: META, QueryExecution: { QueryExecutionId: QUERY_ID, Status: { State: 'RUNNING' } } })
      .resolves(succeeded);
    const outcome: QueryOutcome = await new MockActivityEnvironment({ attempt: 1 }).run(activities.runModelStatement, {
      model,
      statement: { kind: 'build' as const, version: 'revenue__v1' },
      token: TOKEN,
      transientRetryMs: 60_000,
    });
    assert.equal(outcome.state, 'SUCCEEDED');
    assert.deepEqual(outcome.stats, { executionMillis: 1200, scannedBytes: 5_000_000 });
    const [sent] = athena.commandCalls(StartQueryExecutionCommand).map((c) => c.args[0].input);
    assert.equal(sent.ClientRequestToken, TOKEN);
    assert.match(
      sent.QueryString ?? '',
      /^CREATE TABLE "awsdatacatalog"\."analytics"\."revenue__v1" WITH \(table_type = 'ICEBERG', is_external = false, format = 'PARQUET', location = 's3:\/\/lake\/warehouse\/analytics\/revenue__v1\/'\) AS\nSELECT \* FROM \(\nSELECT product/,
    );
  });

  it('a retried attempt resumes following the query from its heartbeat, submitting nothing', async () => {
    athena.on(GetQueryExecutionCommand).resolves(succeeded);
    const env = new MockActivityEnvironment({ attempt: 2, heartbeatDetails: { engine: 'athena', queryId: QUERY_ID } });
    const outcome: QueryOutcome = await env.run(activities.runModelStatement, {
      model,
      statement: { kind: 'publish' as const, version: 'revenue__v1' },
      token: TOKEN,
      transientRetryMs: 60_000,
    });
    assert.equal(outcome.state, 'SUCCEEDED');
    assert.equal(athena.commandCalls(StartQueryExecutionCommand).length, 0);
  });

  it('runs all data tests in one query and reads the counts and the source snapshots from text results', async () => {
    athena.on(StartQueryExecutionCommand).resolves({ $metadata: META, QueryExecutionId: QUERY_ID });
    athena.on(GetQueryExecutionCommand).resolves(succeeded);
    athena
      .on(GetQueryResultsCommand)
      .resolvesOnce(
        resultPage(
          ['test', 'icetide_failures'],
          [
            ['0', '0'],
            ['1', '2'],
          ],
        ),
      )
      .resolvesOnce(
        resultPage(
          ['source', 'snapshot'],
          [
            ['shop.orders', '6970042849401455586'],
            ['shop.refunds', null],
          ],
        ),
      );
    const env = new MockActivityEnvironment({ attempt: 1 });
    const counts: ReadResult = await env.run(activities.readModel, {
      model,
      read: { kind: 'test-counts' as const, tests: model.tests, table: 'revenue__v1' },
    });
    assert.deepEqual(counts.rows, [
      { test: '0', icetide_failures: '0' },
      { test: '1', icetide_failures: '2' },
    ]);
    assert.deepEqual(counts.stats, { executionMillis: 1200, scannedBytes: 5_000_000 });
    const versions = await env.run(activities.sourceVersions, { tables: ['shop.orders', 'shop.refunds'] });
    assert.deepEqual(versions, { 'shop.orders': '6970042849401455586', 'shop.refunds': null });
    const [tests, snapshots] = athena.commandCalls(StartQueryExecutionCommand).map((c) => c.args[0].input.QueryString ?? '');
    assert.equal(tests.split('\nUNION ALL\n').length, 2);
    assert.match(tests, /FROM "awsdatacatalog"\."analytics"\."revenue__v1"/);
    assert.match(snapshots, /FROM "awsdatacatalog"\."shop"\."orders\$snapshots" WHERE operation <> 'replace'/);
  });
});
