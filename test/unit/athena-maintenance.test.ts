import assert from 'node:assert/strict';
import {
  AthenaServiceException,
  GetQueryExecutionCommand,
  GetQueryResultsCommand,
  StartQueryExecutionCommand,
} from '@aws-sdk/client-athena';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { parseTableDefinition } from '../../src/config/schema';
import type { AwaitQueryInput } from '../../src/activities/query';
import type { MaintenanceStep, QueryOutcome } from '../../src/shared';
import { shopOrders } from './fixtures';
import { META, recordedAthena, resultPage } from './recorded-athena';

const QUERY_ID = '7f3a9c1e-2b4d-4e6f-8a0b-1c2d3e4f5a6b';
const TOKEN = 'icetide-0a1b2c3d-4e5f-6789-abcd-ef0123456789-3';

/**
 * The maintenance activities on an Athena engine whose API answers as recorded: the statements they send, the steps
 * Athena does not have, permission errors that must fail at once, and the stats read back from Athena's text results.
 */
describe('maintenance activities on Athena (recorded API behaviour)', () => {
  const { athena, activities } = recordedAthena('shop');
  const def = parseTableDefinition({ ...shopOrders({ name: 'status', type: 'string' }), location: 's3://lake/shop/orders/' });
  const env = () => new MockActivityEnvironment({ attempt: 1 });
  const start = (step: MaintenanceStep) => env().run(activities.startMaintenanceStep, { table: def, step, token: TOKEN });

  beforeEach(() => athena.reset());
  after(() => athena.restore());

  it('submits OPTIMIZE, VACUUM and the table properties with the workflow token; no separate orphan step', async () => {
    athena.on(StartQueryExecutionCommand).resolves({ $metadata: META, QueryExecutionId: QUERY_ID });
    for (const step of ['properties', 'compaction', 'expiry'] as const) {
      const handle = await start(step);
      assert.deepEqual(handle, { engine: 'athena', queryId: QUERY_ID });
    }
    assert.equal(await start('orphans'), undefined);
    const sent = athena.commandCalls(StartQueryExecutionCommand).map((c) => c.args[0].input);
    assert.deepEqual(
      sent.map((i) => i.QueryString?.split(' (')[0]),
      ['ALTER TABLE shop.orders SET TBLPROPERTIES', 'OPTIMIZE shop.orders REWRITE DATA USING BIN_PACK', 'VACUUM shop.orders'],
    );
    assert.ok(sent.every((i) => i.ClientRequestToken === TOKEN && i.WorkGroup === 'icetide'));
  });

  it('fails at once, naming the table, when the role may not run OPTIMIZE', async () => {
    const denied = new AthenaServiceException({
      name: 'AccessDeniedException',
      $fault: 'client',
      $metadata: { httpStatusCode: 400 },
      message: 'User is not authorized to perform: athena:StartQueryExecution',
    });
    athena.on(StartQueryExecutionCommand).rejects(denied);
    await assert.rejects(start('compaction'), (err) => {
      assert.ok(err instanceof ApplicationFailure);
      assert.equal(err.nonRetryable, true);
      assert.match(err.message, /^table shop\.orders: submitting compaction: User is not authorized/);
      return true;
    });
  });

  it('reports OPTIMIZE that needs more runs as a FAILED outcome carrying the code, for the workflow to run it again', async () => {
    athena.on(GetQueryExecutionCommand).resolves({
      $metadata: META,
      QueryExecution: {
        QueryExecutionId: QUERY_ID,
        Status: {
          State: 'FAILED',
          StateChangeReason: 'ICEBERG_OPTIMIZE_MORE_RUNS_NEEDED: Optimize needs more runs to complete',
          AthenaError: { ErrorCategory: 2, ErrorType: 1307, Retryable: false },
        },
      },
    });
    const input: AwaitQueryInput = {
      label: 'table shop.orders compaction',
      handle: { engine: 'athena', queryId: QUERY_ID },
      transientRetryMs: 1000,
    };
    const outcome: QueryOutcome = await env().run(activities.awaitQuery, input);
    assert.equal(outcome.state, 'FAILED');
    assert.match(outcome.error?.message ?? '', /^ICEBERG_OPTIMIZE_MORE_RUNS_NEEDED/);
  });

  it('reads snapshot stats from Athena text results as numbers', async () => {
    athena.on(StartQueryExecutionCommand).resolves({ $metadata: META, QueryExecutionId: QUERY_ID });
    athena
      .on(GetQueryExecutionCommand)
      .resolves({ $metadata: META, QueryExecution: { QueryExecutionId: QUERY_ID, Status: { State: 'SUCCEEDED' } } });
    athena.on(GetQueryResultsCommand).resolves(resultPage(['snapshots', 'expirable'], [['87', '80']]));
    assert.deepEqual(await env().run(activities.snapshotStats, def), { snapshots: 87, expirable: 80 });
    const sql = athena.commandCalls(StartQueryExecutionCommand)[0]!.args[0].input.QueryString;
    assert.match(sql ?? '', /FROM "awsdatacatalog"\."shop"\."orders\$snapshots"$/);
  });

  it('refuses a snapshot retention below the floor before anything is sent', async () => {
    const short = parseTableDefinition({ ...shopOrders(), maintenance: { retain: { snapshots: '2h' } } });
    await assert.rejects(
      env().run(activities.checkRetention, short),
      /maintenance\.retain\.snapshots is 2h, below this deployment's floor/,
    );
    assert.equal(athena.commandCalls(StartQueryExecutionCommand).length, 0);
  });
});
