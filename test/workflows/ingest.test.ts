import assert from 'node:assert/strict';
import { ApplicationFailure, WorkflowFailedError } from '@temporalio/client';
import type { Activities } from '../../src/activities';
import {
  OUTCOME_SEARCH_ATTRIBUTE,
  type BatchPlan,
  type BlockedState,
  type IngestInput,
  type IngestResult,
  type QueryOutcome,
} from '../../src/shared';
import { runWithFakes, useWorkflowEnvironment } from '../support/decisions';
import type { PartitionSlice } from '../../src/sql/partitions';
import { tableFor } from '../../local/harness/harness';

/**
 * The ingest workflow's decisions, with activities replaced by scripted fakes, on the real dev server: resubmission
 * of retryable failures with a fresh token, failure without cleanup, idle runs, and a watermark that never goes back.
 */
describe('ingestBatch decisions (scripted activities)', function () {
  this.timeout(120_000);
  const context = useWorkflowEnvironment();

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

  type Fakes = Pick<Activities, 'planBatch' | 'runMerge' | 'cleanupBatch' | 'planPartitionSlices'>;

  /** Runs one batch against fakes; returns the result (or the failure) and what the fakes saw. */
  async function run(
    batch: BatchPlan,
    outcomes: Omit<QueryOutcome, 'handle'>[],
    input: Partial<IngestInput> = {},
    overrides: Partial<Fakes> = {},
    whileRunning?: (workflowId: string) => Promise<void>,
  ) {
    const tokens: string[] = [];
    const cleaned: string[][] = [];
    const slices: (PartitionSlice | undefined)[] = [];
    const activities: Fakes = {
      planBatch: async () => batch,
      planPartitionSlices: async ({ budget }) =>
        Array.from({ length: Math.ceil(350 / budget) }, (_, i) => ({
          first: `p${i * budget}`,
          last: `p${(i + 1) * budget - 1}`,
          partitions: budget,
        })),
      runMerge: async ({ token, slice }) => {
        slices.push(slice);
        tokens.push(token);
        return { handle: { engine: 'trino', queryId: `q${tokens.length}` }, ...(outcomes.shift() ?? { state: 'SUCCEEDED' }) };
      },
      cleanupBatch: async ({ files }) => {
        cleaned.push(files);
      },
      ...overrides,
    };
    const outcome = await runWithFakes<IngestResult>(
      context.env,
      'ingestBatch',
      { version: 1, table: def, ...input },
      activities,
      whileRunning,
    );
    return { ...outcome, tokens, cleaned, slices };
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
    assert.match(String(error.cause?.message), /^table wf_db\.orders: MERGE query q1 FAILED: TYPE_MISMATCH: boom — BLOCKED since /);
    const blocked = error.cause as ApplicationFailure;
    assert.equal(blocked.type, 'TableBlocked', 'a refusal no retry changes blocks the table');
    assert.equal((blocked.details?.[0] as BlockedState).attempts, 1);
    assert.equal(tokens.length, 1);
    assert.deepEqual(cleaned, []);
  });

  it('gives up after limits.maxSubmissions submissions of a retryable failure, deleting nothing', async () => {
    const { error, cleaned, tokens } = await run(
      plan(),
      Array.from({ length: 3 }, () => failed(true, 'ICEBERG_COMMIT_ERROR: busy')),
      { table: tableFor('wf_db', { limits: { maxSubmissions: 3 } }) },
    );
    assert.ok(error instanceof WorkflowFailedError);
    assert.equal(tokens.length, 3);
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

  it('submits again with a new token when the engine lost the query, then cleans up once', async () => {
    const lost: Omit<QueryOutcome, 'handle'> = { state: 'LOST', error: { message: 'Trino no longer knows query q1', retryable: true } };
    const { result, tokens, cleaned } = await run(plan(), [lost]);
    assert.equal(result?.outcome, 'merged');
    assert.equal(result?.submissions, 2);
    assert.notEqual(tokens[0], tokens[1]);
    assert.deepEqual(cleaned, [plan().files]);
  });

  it('fails a step whose transient trouble outlasts limits.transientRetry, naming table, step and last error', async () => {
    let attempts = 0;
    const { error, tokens, cleaned } = await run(
      plan(),
      [],
      { table: tableFor('wf_db', { limits: { transientRetry: '3s' } }) },
      {
        planBatch: async () => {
          attempts++;
          throw new Error('connect ECONNREFUSED 127.0.0.1:9000');
        },
      },
    );
    assert.ok(error instanceof WorkflowFailedError);
    assert.match(String(error.cause?.message), /^table wf_db\.orders: step plan failed: .*ECONNREFUSED 127\.0\.0\.1:9000/);
    assert.ok(attempts >= 2, `retried (${attempts} attempts)`);
    assert.deepEqual(tokens, []);
    assert.deepEqual(cleaned, []);
  });

  it('applies a batch the engine will not write whole as one MERGE per slice of partitions, halving slices that still fail', async () => {
    const tooMany = failed(false, 'ICEBERG_TOO_MANY_OPEN_PARTITIONS: Exceeded limit of 100 open writers for partitions');
    const byDay = tableFor('wf_db', {
      columns: [...tableFor('wf_db').columns, { name: 'ts', type: 'timestamp' }],
      partitioning: ['day(ts)'],
    });
    // Whole batch refused; round 1 (99 partitions a slice): slice 2 still too many; round 2 (49 a slice): all succeed.
    const { result, tokens, cleaned, slices } = await run(plan(), [tooMany, { state: 'SUCCEEDED' }, tooMany], { table: byDay });
    assert.equal(result?.outcome, 'merged');
    assert.equal(slices[0], undefined, 'the whole batch first');
    assert.deepEqual(
      slices.slice(1, 3).map((s) => s?.partitions),
      [99, 99],
    );
    assert.equal(slices.length, 3 + Math.ceil(350 / 49));
    assert.ok(slices.slice(3).every((s) => s?.partitions === 49));
    assert.equal(result?.statements, 3 + Math.ceil(350 / 49));
    assert.equal(new Set(tokens).size, tokens.length, 'a token per statement');
    assert.deepEqual(cleaned, [plan().files], 'cleanup once, after the last slice');
  });

  it('lands a batch whose commit times are ahead of the worker clock (a source clock an hour fast)', async () => {
    const ahead = new Date(Date.now() + 3_600_000).toISOString().replace('T', ' ').replace('Z', '000');
    const { result, error, cleaned } = await run(plan({ maxCommitTs: ahead }), []);
    assert.equal(error, undefined);
    assert.equal(result?.outcome, 'merged');
    assert.equal(result?.watermark.appliedThrough, ahead);
    assert.deepEqual(cleaned, [plan().files]);
  });

  it('fails the run, naming table and step, when workflow code throws (it never parks the table)', async () => {
    // A plan the workflow cannot use stands for any bug or unexpected value in workflow code.
    const broken = { ...plan(), files: null } as unknown as BatchPlan;
    const { error, tokens, cleaned } = await run(broken, []);
    assert.ok(error instanceof WorkflowFailedError, `failed, not parked: ${String(error)}`);
    assert.match(String(error.cause?.message), /^table wf_db\.orders: workflow code failed during plan: /);
    assert.deepEqual(tokens, []);
    assert.deepEqual(cleaned, []);
  });

  it('marks a run older than limits.overdueAfter as overdue, saying which step it waits on, until it ends', async () => {
    let seen: { outcome?: unknown; details?: string } = {};
    const { result } = await run(
      plan(),
      [],
      { table: tableFor('wf_db', { limits: { overdueAfter: '1s' } }) },
      {
        runMerge: async () => {
          await new Promise((resolve) => setTimeout(resolve, 4000));
          return { handle: { engine: 'trino', queryId: 'q1' }, state: 'SUCCEEDED' };
        },
      },
      async (workflowId) => {
        await new Promise((resolve) => setTimeout(resolve, 2500));
        const handle = context.env.client.workflow.getHandle(workflowId);
        const description = await handle.describe();
        const metadata = await handle.query<{ currentDetails?: string }>('__temporal_workflow_metadata');
        seen = { outcome: description.typedSearchAttributes.get(OUTCOME_SEARCH_ATTRIBUTE), details: metadata.currentDetails };
      },
    );
    assert.equal(seen.outcome, 'overdue');
    assert.match(seen.details ?? '', /^wf_db\.orders: OVERDUE, MERGE \(submission 1, 4 change\(s\), 2 file\(s\)\) since \d{4}-/);
    assert.equal(result?.outcome, 'merged');
  });
});
