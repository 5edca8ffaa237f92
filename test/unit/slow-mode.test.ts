import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { S3Client } from '@aws-sdk/client-s3';
import { loadRuntimeConfig } from '../../src/config/runtime';
import { parseSlowEngine, parseSlowS3 } from '../../src/config/slow';
import type { QueryEngine, QueryHandle, QueryStatus } from '../../src/engines/engine';
import { SlowEngine } from '../../src/engines/slow';
import { slowS3 } from '../../src/storage/slow-s3';
import { StagingStore } from '../../src/storage/staging';

/** An engine that finishes everything at once and counts how often it is asked. */
function instantEngine() {
  const calls = { polls: 0, reads: [] as (AbortSignal | undefined)[] };
  const engine: QueryEngine = {
    kind: 'trino',
    submit: async () => ({ engine: 'trino', queryId: `q${calls.polls}` }),
    poll: async (handle: QueryHandle): Promise<QueryStatus> => {
      calls.polls++;
      return { handle, state: 'SUCCEEDED', stats: { executionMillis: 1, scannedBytes: 10 } };
    },
    cancel: async () => undefined,
    read: async (_sql, signal) => {
      calls.reads.push(signal);
      return { rows: [{ n: 1 }], stats: { executionMillis: 1, scannedBytes: 10 } };
    },
  };
  return { engine, calls };
}

describe('slow mode: the engine at Athena pace', () => {
  const timing = { queue: [40, 40], statement: [100, 100], read: [150, 150] } satisfies ReturnType<typeof parseSlowEngine>;

  it('a statement queues, then runs at least its floor though the engine finished at once; the engine is not polled after it ended', async () => {
    const { engine, calls } = instantEngine();
    const slow = new SlowEngine(engine, timing);
    const submitted = Date.now();
    const handle = await slow.submit({ sql: 'MERGE ...', idempotencyToken: 't', mayExist: false });
    const states: string[] = [];
    let status: QueryStatus;
    do {
      status = await slow.poll(handle);
      if (states.at(-1) !== status.state) states.push(status.state);
      await new Promise((resolve) => setTimeout(resolve, 10));
    } while (status.state !== 'SUCCEEDED');
    assert.deepEqual(states, ['QUEUED', 'RUNNING', 'SUCCEEDED']);
    assert.ok(Date.now() - submitted >= 140, `took ${Date.now() - submitted} ms, at least queue + statement`);
    assert.equal(calls.polls, 1, 'its outcome was held back, not asked for again');
    assert.deepEqual(status.stats, { executionMillis: 1, scannedBytes: 10 });
  });

  it('a read takes its time, and one given up ends at once, passing the signal on to the engine', async () => {
    const { engine, calls } = instantEngine();
    const slow = new SlowEngine(engine, timing);
    const started = Date.now();
    assert.deepEqual((await slow.read('SELECT 1')).rows, [{ n: 1 }]);
    assert.ok(Date.now() - started >= 145, `a read took ${Date.now() - started} ms`);
    const giveUp = new AbortController();
    setTimeout(() => giveUp.abort(new Error('abandoned')), 20);
    const abandonedAt = Date.now();
    await assert.rejects(slow.read('SELECT 2', giveUp.signal), /abandoned/);
    assert.ok(Date.now() - abandonedAt < 100, 'did not wait out the read');
    assert.equal(calls.reads[1], giveUp.signal);
  });

  it('reads its settings from the environment, keys left out at Athena pace, and refuses what it cannot read', () => {
    assert.deepEqual(parseSlowEngine('read=20-60s, statement=5s'), {
      queue: [1000, 3000],
      statement: [5000, 5000],
      read: [20_000, 60_000],
    });
    assert.deepEqual(parseSlowS3('latency=50ms'), { latency: [50, 50], page: 1000 });
    const config = loadRuntimeConfig({ ICETIDE_SLOW_ENGINE: 'queue=0-2s', ICETIDE_SLOW_S3: 'page=10' });
    assert.deepEqual(config.ICETIDE_SLOW_ENGINE?.queue, [0, 2000]);
    assert.equal(config.ICETIDE_SLOW_S3?.page, 10);
    assert.equal(loadRuntimeConfig({}).ICETIDE_SLOW_ENGINE, undefined, 'off unless set');
    assert.throws(() => loadRuntimeConfig({ ICETIDE_SLOW_ENGINE: 'reads=20s' }), /"reads=20s" is not one of queue=.*ICETIDE_SLOW_ENGINE/s);
    assert.throws(() => loadRuntimeConfig({ ICETIDE_SLOW_ENGINE: 'read=60-20s' }), /from low to high/);
    assert.throws(() => loadRuntimeConfig({ ICETIDE_SLOW_S3: 'page=5000' }), /page is a key count from 1 to 1000/);
  });
});

describe('slow mode: S3 with latency and small pages', () => {
  it('a listing returns the forced page size whatever is asked, and the staging store follows every page', async () => {
    const keys = Array.from({ length: 5 }, (_, i) => `t/f${i}.csv`);
    const asked: string[] = [];
    const server = createServer((req, res) => {
      const query = new URL(req.url ?? '', 'http://s3').searchParams;
      asked.push(query.get('max-keys') ?? 'none');
      const from = Number(query.get('continuation-token') ?? 0);
      const page = keys.slice(from, from + Number(query.get('max-keys') ?? 1000));
      const next = from + page.length;
      res
        .writeHead(200, { 'content-type': 'application/xml' })
        .end(
          `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>b</Name><KeyCount>${page.length}</KeyCount>` +
            page
              .map((key) => `<Contents><Key>${key}</Key><Size>1</Size><LastModified>2026-01-01T00:00:00Z</LastModified></Contents>`)
              .join('') +
            `<IsTruncated>${next < keys.length}</IsTruncated>${next < keys.length ? `<NextContinuationToken>${next}</NextContinuationToken>` : ''}</ListBucketResult>`,
        );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const client = new S3Client({
        region: 'us-east-1',
        endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        forcePathStyle: true,
        credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
      });
      const started = Date.now();
      const files = await new StagingStore(slowS3(client, { latency: [30, 30], page: 2 })).list('s3://b/t/');
      assert.deepEqual(
        files.map((f) => f.uri),
        keys.map((key) => `s3://b/${key}`),
      );
      assert.deepEqual(asked, ['2', '2', '2'], 'three pages of at most 2 keys');
      assert.ok(Date.now() - started >= 90, 'each request waited its latency');
    } finally {
      server.close();
    }
  });
});
