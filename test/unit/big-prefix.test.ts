import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { GetObjectCommand, ListObjectsV2Command, S3Client, type ListObjectsV2CommandInput } from '@aws-sdk/client-s3';
import { MockActivityEnvironment } from '@temporalio/testing';
import { mockClient } from 'aws-sdk-client-mock';
import { createActivities } from '../../src/activities';
import type { QueryEngine } from '../../src/engines/engine';
import { renderChangeFile } from '../../src/changes/producers';
import type { TableDefinition } from '../../src/config/schema';
import type { BatchPlan } from '../../src/shared';
import { trinoDialect } from '../../src/sql/dialect';
import { StagingStore } from '../../src/storage/staging';
import { tableFor } from '../../local/harness/harness';

/**
 * A staging prefix of 300,000 objects, served by S3's own rules (key order, 1,000 keys a page, StartAfter), and what
 * planning a batch asks of it.
 */
describe('planning over a big staging prefix (S3 recorded behaviour)', () => {
  const OBJECTS = 300_000;
  const def = tableFor('big_db', { batch: { maxFiles: 100 } });
  const prefix = 'big_db/public/orders/';
  // A DMS file a minute for 208 days, in date folders: names sort by arrival.
  const keys = Array.from({ length: OBJECTS }, (_, i) => {
    const at = new Date(Date.UTC(2026, 0, 1) + i * 60_000).toISOString();
    return `${prefix}${at.slice(0, 10).replace(/-/g, '/')}/${at.slice(0, 19).replace(/[-:]/g, '').replace('T', '-')}.csv`;
  });
  const body = renderChangeFile(def, [
    { op: 'I', ts: '2026-11-21 10:00:00.000000', values: { tenant: 't', id: 1, seq: 1, name: 'n', amount: '1.00' } },
  ]);

  let listings: ListObjectsV2CommandInput[];
  let s3: ReturnType<typeof mockClient>;
  beforeEach(() => {
    listings = [];
    s3 = mockClient(S3Client);
    s3.on(ListObjectsV2Command).callsFake((input: ListObjectsV2CommandInput) => {
      listings.push(input);
      const after = input.ContinuationToken ?? input.StartAfter;
      let from = after ? keys.findIndex((k) => k > after) : 0;
      if (from < 0) from = keys.length;
      const page = keys.slice(from, from + 1000);
      const truncated = from + 1000 < keys.length;
      return {
        Contents: page.map((Key, i) => ({ Key, Size: body.length, LastModified: new Date(Date.UTC(2026, 0, 1) + (from + i) * 60_000) })),
        IsTruncated: truncated,
        NextContinuationToken: truncated ? page.at(-1) : undefined,
      };
    });
    s3.on(GetObjectCommand).callsFake(() => ({ Body: Readable.from([body]) }));
  });
  afterEach(() => s3.restore());

  async function plan(table: TableDefinition, after?: BatchPlan['last']): Promise<BatchPlan> {
    // Planning asks the engine one thing: what it read of the batch's files (it reads each listed file whole).
    const engine = {
      read: (sql: string) =>
        Promise.resolve({
          rows: [...sql.matchAll(/'(s3:\/\/[^']+)'/g)].map(([, path]) => ({ path, size: body.length, rows: 1 })),
          stats: { executionMillis: 0, scannedBytes: 0 },
        }),
    } as unknown as QueryEngine;
    const { planBatch } = createActivities({
      engine,
      dialect: trinoDialect(),
      staging: new StagingStore(new S3Client({ region: 'us-east-1' })),
    });
    return new MockActivityEnvironment().run(planBatch, { table, cutoff: Date.now(), after });
  }

  it('a backlog (delete mode) lists only until a batch is full: 1 page of 300, the oldest files first', async () => {
    const batch = await plan(def);
    assert.equal(listings.length, 1);
    assert.deepEqual(
      batch.files,
      keys.slice(0, 100).map((k) => `s3://icetide-staging/${k}`),
    );
    assert.ok(batch.deferredFiles >= 900, 'what was listed and left is counted');
  });

  it('retain mode by name starts after its position: a year of passed files is never listed again', async () => {
    const retained = { ...def, cleanup: { mode: 'retain' as const } };
    const position = { lastModified: 0, uri: `s3://icetide-staging/${keys[OBJECTS - 50]}` };
    const batch = await plan(retained, position);
    assert.equal(listings.length, 1);
    assert.equal(listings[0].StartAfter, keys[OBJECTS - 50]);
    assert.deepEqual(
      batch.files,
      keys.slice(OBJECTS - 49).map((k) => `s3://icetide-staging/${k}`),
    );
    assert.equal(batch.last?.uri, `s3://icetide-staging/${keys.at(-1)}`);
  });

  it('retain mode by arrival lists everything (an unlisted file could land before the position)', async () => {
    const retained = { ...def, cleanup: { mode: 'retain' as const, order: 'arrival' as const } };
    const batch = await plan(retained);
    assert.equal(listings.length, OBJECTS / 1000);
    assert.equal(batch.files.length, 100);
  });
});
