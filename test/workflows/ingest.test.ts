import assert from 'node:assert/strict';
import { WorkflowFailedError } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type { Activities } from '../../src/activities';
import type { BatchPlan, IngestInput, IngestResult, QueryOutcome } from '../../src/shared';
import { exportStackEnv } from '../support/stack';
import { tableFor, uniqueName } from '../support/harness';

/**
 * The ingest workflow's decisions, with activities replaced by scripted fakes, on the real dev server: resubmission
 * of retryable failures with a fresh token, failure without cleanup, idle runs, and a watermark that never goes back.
 */
describe('ingestBatch decisions (scripted activities)', function () {
  this.timeout(120_000);
  let env: TestWorkflowEnvironment;
  before(async () => {
    exportStackEnv();
    env = await TestWorkflowEnvironment.createFromExistingServer({ address: process.env.ICETIDE_TEMPORAL_ADDRESS });
  });
  after(async () => env?.teardown());

  const def = tableFor('wf_db');
  const plan = (over: Partial<BatchPlan> = {}): BatchPlan => ({
    files: ['s3://b/p/f1.csv', 's3://b/p/f2.csv'],
    bytes: 100,
    rows: 4,
    emptyFiles: 0,
    maxCommitTs: '2026-11-21 10:00:00.000000',
    deferredFiles: 0,
    ignoredFiles: [],
    quarantined: [],
    ...over,
  });
  const failed = (retryable: boolean, message: string): Omit<QueryOutcome, 'handle'> => ({
    state: 'FAILED',
    error: { message, retryable },
  });

  /** Runs one batch against fakes; returns the result (or the failure) and what the fakes saw. */
  async function run(batch: BatchPlan, outcomes: Omit<QueryOutcome, 'handle'>[], input: Partial<IngestInput> = {}) {
    const tokens: string[] = [];
    const cleaned: string[][] = [];
    const activities: Pick<Activities, 'planBatch' | 'startMerge' | 'awaitQuery' | 'cleanupBatch'> = {
      planBatch: async () => batch,
      startMerge: async ({ token }) => {
        tokens.push(token);
        return { engine: 'trino', queryId: `q${tokens.length}` };
      },
      awaitQuery: async ({ handle }) => ({ handle, ...(outcomes.shift() ?? { state: 'SUCCEEDED' }) }),
      cleanupBatch: async ({ files }) => {
        cleaned.push(files);
      },
    };
    const taskQueue = uniqueName('wf_tq');
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowsPath: require.resolve('../../src/workflows'),
      activities,
    });
    const outcome = await worker.runUntil(
      env.client.workflow
        .execute('ingestBatch', { taskQueue, workflowId: uniqueName('wf'), args: [{ version: 1, table: def, ...input }] })
        .then(
          (result: IngestResult): { result?: IngestResult; error?: unknown } => ({ result }),
          (error: unknown): { result?: IngestResult; error?: unknown } => ({ error }),
        ),
    );
    return { ...outcome, tokens, cleaned };
  }

  it('resubmits a commit conflict with a new token, then cleans up once', async () => {
    const { result, tokens, cleaned } = await run(plan(), [failed(true, 'ICEBERG_COMMIT_ERROR: conflict')]);
    assert.equal(result?.outcome, 'merged');
    assert.equal(result?.submissions, 2);
    assert.equal(tokens.length, 2);
    assert.match(tokens[0], /-1$/);
    assert.match(tokens[1], /-2$/);
    assert.deepEqual(cleaned, [plan().files]);
    assert.equal(result?.watermark.appliedThrough, '2026-11-21 10:00:00.000000');
  });

  it('fails on a non-retryable engine error, naming table and query, and deletes nothing', async () => {
    const { error, cleaned, tokens } = await run(plan(), [failed(false, 'TYPE_MISMATCH: boom')]);
    assert.ok(error instanceof WorkflowFailedError);
    assert.equal(String(error.cause?.message), 'table wf_db.orders: MERGE query q1 FAILED: TYPE_MISMATCH: boom');
    assert.equal(tokens.length, 1);
    assert.deepEqual(cleaned, []);
  });

  it('gives up after five submissions of a retryable failure, deleting nothing', async () => {
    const { error, cleaned, tokens } = await run(
      plan(),
      Array.from({ length: 5 }, () => failed(true, 'ICEBERG_COMMIT_ERROR: busy')),
    );
    assert.ok(error instanceof WorkflowFailedError);
    assert.equal(tokens.length, 5);
    assert.deepEqual(cleaned, []);
  });

  it('an idle run submits nothing and carries the watermark', async () => {
    const watermark = { version: 1 as const, appliedThrough: '2026-11-20 00:00:00.000000' };
    const { result, tokens } = await run(plan({ files: [], rows: 0, maxCommitTs: undefined }), [], { watermark });
    assert.equal(result?.outcome, 'idle');
    assert.deepEqual(result?.watermark, watermark);
    assert.equal(tokens.length, 0);
  });

  it('never moves the watermark backwards when a batch holds only older changes', async () => {
    const watermark = { version: 1 as const, appliedThrough: '2026-11-22 00:00:00.000000' };
    const { result } = await run(plan(), [], { watermark });
    assert.equal(result?.watermark.appliedThrough, '2026-11-22 00:00:00.000000');
  });
});
