import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { CancelledFailure, WorkflowFailedError } from '@temporalio/client';
import { trinoTag } from '../../src/engines/trino';
import type { QueryOutcome } from '../../src/shared';
import { openHarness, STAGING_BUCKET, uniqueName } from '../../local/harness/harness';
import { useStackWithWorker } from '../support/suite';
import { repoRoot } from '../../local/harness/stack';

describe('the local stack', function () {
  this.timeout(600_000);

  it('comes up on other ports, answers, reuses itself on a second up, and goes down', () => {
    const run = mkdtempSync(path.join(os.tmpdir(), 'icetide-stack-'));
    const env = {
      ...process.env,
      ICETIDE_RUN: run,
      ICETIDE_TEMPORAL_PORT: '17233',
      ICETIDE_TEMPORAL_UI_PORT: '18233',
      ICETIDE_TEMPORAL_HTTP_PORT: '17243',
      ICETIDE_TEMPORAL_METRICS_PORT: '17244',
      ICETIDE_MINIO_PORT: '19000',
      ICETIDE_MINIO_CONSOLE_PORT: '19001',
      ICETIDE_TRINO_PORT: '18080',
    };
    // stack.sh reports on stderr; fold it into the captured output.
    const stack = (command: string) =>
      execFileSync('bash', ['-c', `bash local/stack.sh ${command} 2>&1`], { cwd: repoRoot, env, encoding: 'utf8' });
    try {
      assert.match(stack('up'), /temporal up at 127\.0\.0\.1:17233[\s\S]*minio up[\s\S]*trino up at http:\/\/127\.0\.0\.1:18080/);
      assert.match(stack('status'), /temporal: up[\s\S]*minio: up[\s\S]*trino: up/);
      const again = stack('up');
      assert.match(again, /temporal already up[\s\S]*minio already up[\s\S]*trino already up/);
      assert.doesNotMatch(again, /temporal up at/);
      stack('down');
      assert.throws(
        () => stack('status'),
        (err: { status?: number; stdout?: string }) =>
          err.status === 1 && /temporal: down[\s\S]*minio: down[\s\S]*trino: down/.test(err.stdout ?? ''),
      );
    } finally {
      try {
        stack('down');
      } finally {
        rmSync(run, { recursive: true, force: true });
      }
    }
  });
});

describe('a workflow that runs a query on Trino', function () {
  this.timeout(120_000);
  const stack = useStackWithWorker('statement_tq');

  const run = (sql: string): Promise<QueryOutcome> =>
    stack.h.client.workflow.execute('runStatement', {
      taskQueue: stack.taskQueue,
      workflowId: uniqueName('statement'),
      args: [{ sql, label: 'foundation test' }],
    });

  it('submits a query and polls it to success through activities', async () => {
    const outcome = await run('SELECT count(*) FROM (VALUES 1, 2, 3) AS t(x)');
    assert.equal(outcome.state, 'SUCCEEDED');
    assert.match(outcome.handle.queryId, /^\d{8}_\d{6}_\d{5}_\w+$/);
    const [row] = await stack.h.trino.query(`SELECT state FROM system.runtime.queries WHERE query_id = '${outcome.handle.queryId}'`);
    assert.equal(row.state, 'FINISHED');
  });

  it("fails the workflow with the engine's error message when the query fails", async () => {
    await assert.rejects(run('SELECT * FROM iceberg.no_such_schema.no_such_table'), (err: unknown) => {
      assert.ok(err instanceof WorkflowFailedError);
      // The engine's message, summarised for history: the kind of problem, its quoted names and values withheld.
      assert.match(String(err.cause?.message), /foundation test: query \w+ FAILED: .*Schema '…' does not exist/);
      return true;
    });
  });
});

describe('cancelling a run', function () {
  this.timeout(120_000);
  const stack = useStackWithWorker('cancel_tq');

  it('cancels the query it is waiting for', async () => {
    // 10^11 rows: runs far longer than the test unless cancelled.
    const sql =
      'SELECT count(*) FROM UNNEST(sequence(1, 10000)) a(x) CROSS JOIN UNNEST(sequence(1, 10000)) b(y) CROSS JOIN UNNEST(sequence(1, 1000)) c(z)';
    const handle = await stack.h.client.workflow.start('runStatement', {
      taskQueue: stack.taskQueue,
      workflowId: uniqueName('cancel'),
      args: [{ sql, label: 'cancel test' }],
    });
    const { runId } = await handle.describe();
    const tagged = `SELECT query_id, state, error_code FROM system.runtime.queries WHERE source = '${trinoTag(`icetide-${runId}-statement`)}'`;
    for (let i = 0; i < 100 && (await stack.h.trino.query(tagged)).every((q) => q.state !== 'RUNNING'); i++) {
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    await handle.cancel();
    await assert.rejects(handle.result(), (err: unknown) => err instanceof WorkflowFailedError && err.cause instanceof CancelledFailure);
    const [query] = await stack.h.trino.query(tagged);
    assert.equal(query.state, 'FAILED');
    assert.equal(query.error_code, 'USER_CANCELED');
  });
});

describe('MinIO through @aws-sdk/client-s3', () => {
  it('round-trips an object (endpoint override, path-style)', async () => {
    const h = await openHarness();
    try {
      const Key = `${uniqueName('roundtrip')}/hello.txt`;
      await h.s3.send(new PutObjectCommand({ Bucket: STAGING_BUCKET, Key, Body: 'hello, iceberg' }));
      const object = await h.s3.send(new GetObjectCommand({ Bucket: STAGING_BUCKET, Key }));
      assert.equal(await object.Body?.transformToString(), 'hello, iceberg');
      await h.s3.send(new DeleteObjectCommand({ Bucket: STAGING_BUCKET, Key }));
      await assert.rejects(h.s3.send(new GetObjectCommand({ Bucket: STAGING_BUCKET, Key })), { name: 'NoSuchKey' });
    } finally {
      await h.close();
    }
  });
});

describe('Trino: a wait resumed from a stale nextUri', function () {
  this.timeout(120_000);

  it('finds the statement by its id and follows it to its end: never LOST, never run twice, long before Trino would abandon it', async () => {
    const h = await openHarness();
    try {
      const schema = uniqueName('stale');
      await h.trino.query(`CREATE SCHEMA iceberg.${schema} WITH (location = 's3://icetide-warehouse/${schema}/')`);
      await h.trino.query(`CREATE TABLE iceberg.${schema}.t (x bigint)`);
      const token = uniqueName('stale_token');
      const submitted = await h.trino.submit({
        sql: `INSERT INTO iceberg.${schema}.t SELECT x FROM UNNEST(sequence(1, 1000)) AS a(x)`,
        idempotencyToken: token,
        mayExist: false,
      });
      // A worker follows the query a few steps, then dies; its last heartbeat held the first handle.
      let followed = submitted;
      for (let i = 0; i < 2; i++) followed = (await h.trino.poll(followed)).handle;
      assert.notEqual(followed.nextUri, submitted.nextUri);
      const started = Date.now();
      let status = await h.trino.poll(submitted);
      while (status.state === 'RUNNING' || status.state === 'QUEUED') {
        await new Promise((resolve) => setTimeout(resolve, 500));
        status = await h.trino.poll(status.handle);
      }
      assert.equal(status.state, 'SUCCEEDED', status.error?.message);
      assert.equal(status.handle.queryId, submitted.queryId);
      assert.ok(Date.now() - started < 60_000, `done in ${Date.now() - started} ms, not after the 5 min of query.client.timeout`);
      const [{ n }] = await h.trino.query(`SELECT count(*) AS n FROM iceberg.${schema}.t`);
      assert.equal(Number(n), 1000, 'the statement ran once and its commit stands');
      const [{ running }] = await h.trino.query(
        `SELECT count(*) AS running FROM system.runtime.queries WHERE source = '${trinoTag(token)}' AND state NOT IN ('FINISHED', 'FAILED')`,
      );
      assert.equal(Number(running), 0, 'nothing left running on the coordinator');
    } finally {
      await h.close();
    }
  });
});
