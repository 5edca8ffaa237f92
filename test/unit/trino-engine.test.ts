import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PermanentEngineError, TransientEngineError } from '../../src/engines/engine';
import { classifyTrinoError, TrinoEngine } from '../../src/engines/trino';

describe('classifyTrinoError', () => {
  it('retries commit conflicts, abandoned queries and internal errors', () => {
    assert.equal(
      classifyTrinoError({ message: 'Failed to commit', errorName: 'ICEBERG_COMMIT_ERROR', errorType: 'EXTERNAL' }).retryable,
      true,
    );
    assert.equal(classifyTrinoError({ message: 'Query abandoned', errorName: 'ABANDONED_QUERY', errorType: 'USER_ERROR' }).retryable, true);
    assert.equal(classifyTrinoError({ message: 'oops', errorName: 'GENERIC_INTERNAL_ERROR', errorType: 'INTERNAL_ERROR' }).retryable, true);
    assert.equal(
      classifyTrinoError({ message: 'full', errorName: 'EXCEEDED_GLOBAL_MEMORY_LIMIT', errorType: 'INSUFFICIENT_RESOURCES' }).retryable,
      true,
    );
  });

  it('fails user errors, keeping the message and the error name', () => {
    assert.deepEqual(
      classifyTrinoError({ message: "Cannot cast VARCHAR 'x' to BIGINT", errorName: 'INVALID_CAST_ARGUMENT', errorType: 'USER_ERROR' }),
      {
        message: "Cannot cast VARCHAR 'x' to BIGINT",
        code: 'INVALID_CAST_ARGUMENT',
        retryable: false,
      },
    );
  });
});

/** A stand-in coordinator on loopback that answers each path as the test says (what a restarted Trino answers). */
async function fakeTrino(
  answer: (url: string, method: string) => { status: number; body: string },
): Promise<{ url: string; close(): void }> {
  const server = createServer((req, res) => {
    const { status, body } = answer(req.url ?? '', req.method ?? '');
    res.writeHead(status, { 'content-type': 'application/json' }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => server.close() };
}

describe('TrinoEngine: queries the coordinator no longer knows', () => {
  const running = (id: string, next: string) => JSON.stringify({ id, nextUri: next, stats: { state: 'RUNNING' } });

  it('reports LOST when the nextUri answers 404 (the coordinator restarted)', async () => {
    const trino = await fakeTrino(() => ({ status: 404, body: 'Query not found' }));
    try {
      const engine = new TrinoEngine({ url: trino.url, user: 't' });
      const status = await engine.poll({ engine: 'trino', queryId: 'q1', nextUri: `${trino.url}/v1/statement/executing/q1/x/3` });
      assert.equal(status.state, 'LOST');
      assert.equal(status.error?.retryable, true);
      assert.match(status.error?.message ?? '', /no longer knows query q1.*404/);
      await engine.cancel(status.handle); // cancelling a forgotten query succeeds
    } finally {
      trino.close();
    }
  });

  it('a stale nextUri (410: a dead worker fetched past it) asks the coordinator by id and watches the query it knows to its end', async () => {
    let info: object = {
      queryId: 'q1',
      state: 'RUNNING',
      updateType: 'MERGE',
      scheduled: true,
      queryStats: { totalDrivers: 9, completedDrivers: 4 },
    };
    const asked: string[] = [];
    const trino = await fakeTrino((url, method) => {
      asked.push(`${method} ${url}`);
      if (url.startsWith('/v1/statement/')) return { status: 410, body: 'Gone' };
      if (url === '/v1/query/q1') return { status: 200, body: JSON.stringify(info) };
      return { status: 404, body: 'Query not found' };
    });
    try {
      const engine = new TrinoEngine({ url: trino.url, user: 't' });
      const running = await engine.poll({ engine: 'trino', queryId: 'q1', nextUri: `${trino.url}/v1/statement/executing/q1/y1/3` });
      assert.equal(running.state, 'RUNNING', 'not LOST: the coordinator still runs it, a resubmit would run the MERGE twice');
      assert.deepEqual(running.handle, { engine: 'trino', queryId: 'q1' }, 'watched by id from now on');
      // Every driver done, the commit among them: only the row count waits for a client nobody is any more.
      info = { ...info, queryStats: { totalDrivers: 9, completedDrivers: 9 } };
      assert.equal((await engine.poll(running.handle)).state, 'SUCCEEDED');
      assert.deepEqual(asked, [
        'GET /v1/statement/executing/q1/y1/3',
        'GET /v1/query/q1',
        'GET /v1/query/q1',
        'DELETE /v1/query/q1', // ended now rather than abandoned after query.client.timeout
      ]);
      info = { queryId: 'q1', state: 'FINISHED' };
      assert.equal((await engine.poll(running.handle)).state, 'SUCCEEDED');

      const gone = await engine.poll({ engine: 'trino', queryId: 'q9', nextUri: `${trino.url}/v1/statement/executing/q9/y1/3` });
      assert.equal(gone.state, 'LOST', 'lost only once the coordinator, asked by id, does not know it');
      assert.match(gone.error?.message ?? '', /no longer knows query q9.*404 to GET \S+\/v1\/query\/q9/);
    } finally {
      trino.close();
    }
  });

  it('reports LOST when another query answers, or the query was abandoned', async () => {
    const trino = await fakeTrino((url) =>
      url.includes('other')
        ? { status: 200, body: running('q2', 'http://x/next') }
        : {
            status: 200,
            body: JSON.stringify({ id: 'q1', stats: { state: 'FAILED' }, error: { message: 'abandoned', errorName: 'ABANDONED_QUERY' } }),
          },
    );
    try {
      const engine = new TrinoEngine({ url: trino.url, user: 't' });
      assert.equal((await engine.poll({ engine: 'trino', queryId: 'q1', nextUri: `${trino.url}/other` })).state, 'LOST');
      assert.equal((await engine.poll({ engine: 'trino', queryId: 'q1', nextUri: `${trino.url}/mine` })).state, 'LOST');
    } finally {
      trino.close();
    }
  });

  it('keeps following a query that answers under its own id', async () => {
    const trino = await fakeTrino(() => ({ status: 200, body: running('q1', 'http://x/next') }));
    try {
      const engine = new TrinoEngine({ url: trino.url, user: 't' });
      const status = await engine.poll({ engine: 'trino', queryId: 'q1', nextUri: `${trino.url}/v1/statement/executing/q1/x/1` });
      assert.equal(status.state, 'RUNNING');
      assert.equal(status.handle.nextUri, 'http://x/next');
    } finally {
      trino.close();
    }
  });

  it('marks a refused request permanent and an unreachable coordinator transient', async () => {
    const trino = await fakeTrino(() => ({ status: 400, body: 'bad request' }));
    const engine = new TrinoEngine({ url: trino.url, user: 't' });
    try {
      await assert.rejects(engine.submit({ sql: 'SELECT 1', idempotencyToken: 'tok', mayExist: false }), PermanentEngineError);
    } finally {
      trino.close();
    }
    const nobody = new TrinoEngine({ url: 'http://127.0.0.1:9', user: 't' });
    await assert.rejects(nobody.submit({ sql: 'SELECT 1', idempotencyToken: 'tok', mayExist: false }), TransientEngineError);
  });
});
