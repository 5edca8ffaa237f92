import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { Context } from '@temporalio/activity';
import { WorkflowFailedError } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import type { Activities } from '../../src/activities';
import { createQuotaActivities } from '../../src/activities/quota';
import type { ActivityDeps } from '../../src/activities';
import { QUOTA_SIGNALS, type BatchPlan, type IngestResult } from '../../src/shared';
import { tableFor, uniqueName } from '../../local/harness/harness';
import { useWorkflowEnvironment } from '../support/decisions';

/**
 * The engine's query quota across concurrent batches, on the real dev server: the real quota workflow and permit
 * activities, scripted query activities that count how many queries run at once.
 */
describe('engine query quota (scripted queries)', function () {
  this.timeout(120_000);
  const context = useWorkflowEnvironment();

  const plan: BatchPlan = {
    files: ['s3://b/p/f1.csv'],
    bytes: 10,
    rows: 1,
    emptyFiles: 0,
    maxCommitTs: '2026-11-21 10:00:00.000000',
    deferredFiles: 0,
    ignoredFiles: [],
    quarantined: [],
  };

  /** A worker whose queries take `queryMs` (or never end for the tables in `hang`), counting those running at once. */
  async function withQuotaWorker<T>(
    limit: number,
    options: { queryMs: number; hang?: string[]; askAgainEveryMs?: number; maxWaitMs?: number },
    body: (
      start: (table: string) => Promise<{ workflowId: string; result: Promise<IngestResult> }>,
      seen: { running: number; max: number },
      quotaId: string,
    ) => Promise<T>,
  ): Promise<T> {
    const taskQueue = uniqueName('quota_tq');
    const seen = { running: 0, max: 0 };
    const { askAgainEveryMs, maxWaitMs } = options;
    const quota = createQuotaActivities({
      quota: { engine: 'fake', limit, sweepEveryMs: 1000, askAgainEveryMs, maxWaitMs },
    } as ActivityDeps);
    const activities: Pick<Activities, 'planBatch' | 'runMerge' | 'cleanupBatch' | 'requestQueryPermit' | 'closedRuns'> = {
      ...quota,
      planBatch: async () => plan,
      runMerge: async ({ table }) => {
        seen.max = Math.max(seen.max, ++seen.running);
        // A hanging query ends with the worker (its shutdown cancels the activity).
        await delay(options.hang?.includes(table.table) ? 3_600_000 : options.queryMs, undefined, {
          signal: Context.current().cancellationSignal,
        });
        seen.running--;
        return { handle: { engine: 'trino', queryId: table.table }, state: 'SUCCEEDED' };
      },
      cleanupBatch: async () => undefined,
    };
    const worker = await Worker.create({
      connection: context.env.nativeConnection,
      taskQueue,
      workflowsPath: require.resolve('../../src/workflows'),
      activities,
    });
    const start = async (table: string) => {
      const workflowId = uniqueName(`quota_${table}`);
      const handle = await context.env.client.workflow.start('ingestBatch', {
        taskQueue,
        workflowId,
        args: [{ version: 1, table: tableFor('wf_db', { table }) }],
      });
      return { workflowId, result: handle.result() as Promise<IngestResult> };
    };
    return worker.runUntil(async () => {
      try {
        return await body(start, seen, `icetide:quota:${taskQueue}:fake`);
      } finally {
        await context.env.client.workflow
          .getHandle(`icetide:quota:${taskQueue}:fake`)
          .terminate('test over')
          .catch(() => undefined);
      }
    });
  }

  it('never runs more queries at once than the limit, and every batch lands', async () => {
    await withQuotaWorker(2, { queryMs: 700 }, async (start, seen) => {
      const runs = await Promise.all(Array.from({ length: 8 }, (_, i) => start(`t${i}`)));
      const results = await Promise.all(runs.map((r) => r.result));
      assert.deepEqual(
        results.map((r) => r.outcome),
        Array(8).fill('merged'),
      );
      assert.equal(seen.max, 2, 'the limit is reached and never exceeded');
    });
  });

  it('grants a free permit in its reply (no signal, no wait), and a permit someone holds by a signal once it is back', async () => {
    await withQuotaWorker(1, { queryMs: 1500 }, async (start, seen) => {
      const first = await start('first');
      while (seen.running === 0) await delay(50);
      const second = await start('second');
      for (const run of [first, second]) assert.equal((await run.result).outcome, 'merged');
      const grantSignals = async (workflowId: string) =>
        (await context.env.client.workflow.getHandle(workflowId).fetchHistory()).events!.filter(
          (e) => e.workflowExecutionSignaledEventAttributes?.signalName === QUOTA_SIGNALS.granted,
        ).length;
      assert.equal(await grantSignals(first.workflowId), 0, 'a free permit comes with the reply');
      assert.equal(await grantSignals(second.workflowId), 1, 'a held permit comes by a signal when given back');
    });
  });

  it('takes back the permit of a run terminated while holding it', async () => {
    await withQuotaWorker(1, { queryMs: 100, hang: ['stuck'] }, async (start, seen) => {
      const stuck = await start('stuck');
      while (seen.running === 0) await delay(100);
      const next = await start('next');
      await delay(1000);
      assert.equal(seen.max, 1, 'the next batch waits for the permit');
      await context.env.client.workflow.getHandle(stuck.workflowId).terminate('operator gave up');
      stuck.result.catch(() => undefined);
      assert.equal((await next.result).outcome, 'merged');
    });
  });

  it('a run waiting on a quota that was terminated asks again, which starts a new quota, and its batch lands', async () => {
    await withQuotaWorker(1, { queryMs: 100, hang: ['holder'], askAgainEveryMs: 1000 }, async (start, seen, quotaId) => {
      const holder = await start('holder');
      while (seen.running === 0) await delay(100);
      const waiting = await start('waiting');
      await delay(500);
      const quota = context.env.client.workflow.getHandle(quotaId);
      const { runId } = await quota.describe();
      await quota.terminate('operator cleaned up');
      const started = Date.now();
      assert.equal((await waiting.result).outcome, 'merged');
      assert.ok(Date.now() - started < 10_000, `granted ${Date.now() - started} ms after the quota vanished`);
      assert.notEqual((await quota.describe()).runId, runId, 'a new quota run');
      await context.env.client.workflow.getHandle(holder.workflowId).terminate('test over');
      holder.result.catch(() => undefined);
    });
  });

  it('a run waits for a permit at most maxWaitMs, then fails naming the quota', async () => {
    await withQuotaWorker(1, { queryMs: 100, hang: ['holder'], askAgainEveryMs: 500, maxWaitMs: 2000 }, async (start, seen) => {
      const holder = await start('holder');
      while (seen.running === 0) await delay(100);
      const waiting = await start('waiting');
      const err = await waiting.result.catch((e: unknown) => e);
      assert.ok(err instanceof WorkflowFailedError, String(err));
      assert.match(String(err.cause?.message), /wf_db\.waiting MERGE: no query permit from icetide:quota:\S+:fake after 2 s of waiting/);
      assert.equal(seen.max, 1);
      await context.env.client.workflow.getHandle(holder.workflowId).terminate('test over');
      holder.result.catch(() => undefined);
    });
  });

  it('gives the permit back when a waiting run is cancelled, and the queue goes on', async () => {
    await withQuotaWorker(1, { queryMs: 1500 }, async (start) => {
      const first = await start('first');
      await delay(300);
      const cancelled = await start('cancelled');
      const third = await start('third');
      await delay(300);
      await context.env.client.workflow.getHandle(cancelled.workflowId).cancel();
      await assert.rejects(cancelled.result);
      assert.equal((await first.result).outcome, 'merged');
      assert.equal((await third.result).outcome, 'merged');
    });
  });
});
