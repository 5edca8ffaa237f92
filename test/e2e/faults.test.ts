import assert from 'node:assert/strict';
import type { WorkflowHandle } from '@temporalio/client';
import { WorkflowFailedError } from '@temporalio/client';
import type { Failpoint } from '../../src/activities';
import type { ChangeEvent } from '../../src/changes/producers';
import type { TableDefinition } from '../../src/config/schema';
import { ChaosEngine } from '../../src/engines/chaos';
import type { IngestResult } from '../../src/shared';
import {
  createTable,
  currentRows,
  listUris,
  openHarness,
  putChangeFile,
  startWorker,
  tableFor,
  uniqueName,
  type Harness,
} from '../../local/harness/harness';
import { asStrings, ReferenceTable } from '../support/reference';
import { seededRandom } from '../../local/harness/random';
import { stack, stackIsUp, stackUpAfter } from '../../local/harness/stack';

const COLUMNS = ['tenant', 'id', 'seq', 'name', 'amount'];

/** A stream of random changes over a few keys, with commit times that keep growing across calls. */
function changeStream(seed: number) {
  const random = seededRandom(seed);
  let seq = 0;
  return (n: number): ChangeEvent[] =>
    Array.from({ length: n }, () => {
      seq++;
      const op = (['I', 'U', 'U', 'D'] as const)[Math.floor(random() * 4)];
      const ts = new Date(Date.UTC(2026, 10, 21, 12) + seq * 1000).toISOString().replace('T', ' ').replace('Z', '000');
      return {
        op,
        ts,
        values: { tenant: 't', id: 1 + Math.floor(random() * 20), seq, name: `n${seq}`, amount: (random() * 100).toFixed(2) },
      };
    });
}

/** The workflow's result, riding out a restart of the Temporal server (the client's long poll fails meanwhile). */
async function resultThroughRestarts(handle: WorkflowHandle): Promise<IngestResult> {
  const deadline = Date.now() + 300_000;
  for (;;) {
    try {
      return (await handle.result()) as IngestResult;
    } catch (err) {
      if (err instanceof WorkflowFailedError || Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}

/**
 * The other components of a deployment fail too: the engine, S3 and the Temporal server are killed or stopped at a
 * precise point of a batch and started again. Every batch must land, the table must equal the reference, staging
 * must hold exactly the unmerged files, and the time from fault to caught-up table is printed.
 */
describe('faults on the real stack: engine, S3 and Temporal restarts mid-batch', function () {
  this.timeout(600_000);
  let h: Harness;
  before(async () => {
    h = await openHarness();
  });
  after(async () => {
    if (!stackIsUp()) stack('up');
    await h?.close();
  });

  async function landThroughFault(at: Failpoint, fault: () => Promise<void>): Promise<void> {
    const def = tableFor(uniqueName(`fault_${at.replace(/-/g, '_')}`));
    await createTable(h, def);
    const reference = new ReferenceTable(def.primaryKey);
    const next = changeStream(at.length);
    for (const name of ['a.csv', 'b.csv', 'c.csv']) {
      const events = next(8);
      await putChangeFile(h, def, name, events);
      reference.deliver(name, events);
    }
    let injectedAt = 0;
    let restarted: Promise<void> | undefined;
    const failpoint = (name: Failpoint) => {
      if (name !== at || restarted) return;
      injectedAt = Date.now();
      restarted = fault();
      restarted.catch(() => undefined); // awaited, and so reported, once the batch is done
    };
    const taskQueue = uniqueName('fault_tq');
    const worker = await startWorker(h, taskQueue, { ...h.deps, failpoint });
    try {
      const handle = await h.client.workflow.start('ingestBatch', {
        taskQueue,
        workflowId: uniqueName('fault'),
        args: [{ version: 1, table: def }],
      });
      const result = await resultThroughRestarts(handle);
      const recoveredMs = Date.now() - injectedAt;
      await restarted;
      assert.ok(restarted, 'the fault was injected');
      assert.equal(result.outcome, 'merged');
      assert.equal(result.files, 3);
      console.log(
        `      fault at ${at}: table caught up ${(recoveredMs / 1000).toFixed(1)} s after the fault (${result.submissions} submission(s))`,
      );
    } finally {
      await worker.stop();
    }
    assert.deepEqual(asStrings(await currentRows(h, def), COLUMNS), reference.rows(COLUMNS));
    assert.deepEqual(await listUris(h, def.staging.location), [], 'every merged file, and only those, cleaned up');
  }

  it('Trino SIGKILLed and restarted while the MERGE runs: the lost query is submitted again', () =>
    landThroughFault('await-query', async () => {
      stack('kill', 'trino');
      await stackUpAfter(0);
    }));

  it('Trino SIGKILLed and restarted as the MERGE is submitted: the submit is retried until Trino is back', () =>
    landThroughFault('before-submit', async () => {
      stack('kill', 'trino');
      await stackUpAfter(0);
    }));

  it('MinIO stopped and restarted while planBatch reads the change files', () =>
    landThroughFault('plan-read', async () => {
      stack('down', 'minio');
      await stackUpAfter(3000);
    }));

  it('MinIO stopped and restarted just before cleanup', () =>
    landThroughFault('before-cleanup', async () => {
      stack('down', 'minio');
      await stackUpAfter(3000);
    }));

  it('the Temporal server restarted while the batch awaits its MERGE: the worker reconnects', () =>
    landThroughFault('await-query', async () => {
      stack('down', 'temporal');
      await stackUpAfter(1000);
    }));

  it('lands 100 batches over 4 tables while 20% of submits and polls fail and commits report conflicts', async () => {
    const chaos = new ChaosEngine(h.deps.engine, { transientRate: 0.2, conflictRate: 0.1, random: seededRandom(20261124) });
    const taskQueue = uniqueName('chaos_tq');
    const worker = await startWorker(h, taskQueue, { ...h.deps, engine: chaos });
    const started = Date.now();
    const submissions: number[] = [];
    try {
      await Promise.all(
        [0, 1, 2, 3].map(async (t) => {
          const def: TableDefinition = tableFor(uniqueName(`chaos_${t}`));
          await createTable(h, def);
          const reference = new ReferenceTable(def.primaryKey);
          const next = changeStream(100 + t);
          for (let batch = 0; batch < 25; batch++) {
            const name = `b${String(batch).padStart(3, '0')}.csv`;
            const events = next(6);
            await putChangeFile(h, def, name, events);
            reference.deliver(name, events);
            const result: IngestResult = await h.client.workflow.execute('ingestBatch', {
              taskQueue,
              workflowId: uniqueName('chaos'),
              args: [{ version: 1, table: def }],
            });
            assert.equal(result.outcome, 'merged');
            submissions.push(result.submissions ?? 0);
          }
          assert.deepEqual(asStrings(await currentRows(h, def), COLUMNS), reference.rows(COLUMNS), `table ${def.database}`);
          assert.deepEqual(await listUris(h, def.staging.location), []);
        }),
      );
    } finally {
      await worker.stop();
    }
    assert.equal(submissions.length, 100);
    assert.ok(chaos.injected.conflicts > 0 && chaos.injected.transient > 0, 'faults were injected');
    const resubmitted = submissions.filter((s) => s > 1).length;
    console.log(
      `      100/100 batches landed in ${((Date.now() - started) / 1000).toFixed(0)} s; injected ${chaos.injected.transient} transient ` +
        `faults and ${chaos.injected.conflicts} conflicts; ${resubmitted} batches resubmitted`,
    );
  });
});
