import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GetQueryExecutionCommand, StartQueryExecutionCommand, StopQueryExecutionCommand } from '@aws-sdk/client-athena';
import { ActivityCancellationDetails, ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { modelDefinitionSchema } from '../../src/config/models';
import { TrinoEngine } from '../../src/engines/trino';
import { META, recordedAthena } from './recorded-athena';

const QUERY_ID = '7d3e0c7e-9a2f-4c3b-8d6e-0f1a2b3c4d5e';

/**
 * A read on a slow engine (Athena queues, then scans for tens of seconds) must keep its activity alive, and a read
 * whose attempt is given up must not run on: it would hold a slot of the engine quota nobody accounts for.
 */
describe('waiting on the engine: heartbeats, and cancelling what nobody waits for any more', () => {
  const { athena, activities } = recordedAthena('analytics');
  const model = modelDefinitionSchema.parse({
    name: 'revenue',
    database: 'analytics',
    materialization: 'table',
    sql: 'SELECT product, sum(amount) AS revenue FROM shop.orders GROUP BY 1',
    tests: [{ unique: ['product'] }],
  });
  const readTests = { model, read: { kind: 'test-counts' as const, tests: model.tests, table: 'revenue__v1' } };

  beforeEach(() => {
    athena.reset();
    athena.on(StartQueryExecutionCommand).resolves({ $metadata: META, QueryExecutionId: QUERY_ID });
    // The data test runs on and on.
    athena
      .on(GetQueryExecutionCommand)
      .resolves({ $metadata: META, QueryExecution: { QueryExecutionId: QUERY_ID, Status: { State: 'RUNNING' } } });
    athena.on(StopQueryExecutionCommand).resolves({ $metadata: META });
  });
  after(() => athena.restore());

  /** Runs the data-test read and gives it up with `details` at its first heartbeat; the read's rejection and the heartbeat count. */
  async function abandonAtFirstHeartbeat(details: ActivityCancellationDetails): Promise<{ error: unknown; heartbeats: number }> {
    const env = new MockActivityEnvironment({ attempt: 1 });
    let heartbeats = 0;
    env.on('heartbeat', () => {
      if (heartbeats++ === 0) env.cancel(details.workerShutdown ? 'WORKER_SHUTDOWN' : 'CANCELLED', details);
    });
    const error = await env.run(activities.readModel, readTests).then(
      () => assert.fail('the read cannot end: the query never does'),
      (err: unknown) => err,
    );
    return { error, heartbeats };
  }

  it('a data test heartbeats while the engine runs it; cancelled, it stops the query on the engine', async function () {
    this.timeout(10_000);
    const { error, heartbeats } = await abandonAtFirstHeartbeat(new ActivityCancellationDetails({ cancelRequested: true }));
    assert.ok(heartbeats >= 1, 'heartbeated while the engine ran the read');
    assert.ok(error instanceof CancelledFailure, `cancelled, not failed: ${String(error)}`);
    const stops = athena.commandCalls(StopQueryExecutionCommand).map((call) => call.args[0].input.QueryExecutionId);
    assert.deepEqual(stops, [QUERY_ID], 'the read was stopped on the engine');
  });

  it('a worker shutting down stops the read and fails the attempt as retryable, for another worker to run again', async function () {
    this.timeout(10_000);
    const { error } = await abandonAtFirstHeartbeat(new ActivityCancellationDetails({ workerShutdown: true }));
    assert.ok(error instanceof ApplicationFailure && !error.nonRetryable, `a retryable failure: ${String(error)}`);
    assert.match(error.message, /worker shut down while model analytics\.revenue: reading test-counts/);
    assert.equal(athena.commandCalls(StopQueryExecutionCommand).length, 1);
  });
});

describe('TrinoEngine.read given up', () => {
  it('stops following the query and cancels it on the coordinator (which would otherwise run it for minutes)', async () => {
    const requests: string[] = [];
    const server = createServer((req, res) => {
      requests.push(`${req.method} ${req.url}`);
      const running = { id: 'q1', nextUri: `http://${req.headers.host}/v1/statement/executing/q1/x/1`, stats: { state: 'RUNNING' } };
      if (req.method === 'DELETE') res.writeHead(204).end();
      // A long-poll that answers after a while, as a busy coordinator does.
      else setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(running)), 50);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const engine = new TrinoEngine({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, user: 't' });
      const giveUp = new AbortController();
      setTimeout(() => giveUp.abort(new Error('attempt abandoned')), 300);
      await assert.rejects(engine.read('SELECT count(*) FROM big', giveUp.signal), /attempt abandoned/);
      assert.equal(requests[0], 'POST /v1/statement');
      assert.ok(requests.filter((r) => r.startsWith('GET')).length >= 2, 'followed the query until given up');
      assert.equal(requests.at(-1), 'DELETE /v1/query/q1', 'then cancelled it');
    } finally {
      server.close();
    }
  });
});
