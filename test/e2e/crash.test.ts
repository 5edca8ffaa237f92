import assert from 'node:assert/strict';
import type { Failpoint } from '../../src/activities';
import type { ChangeEvent } from '../../src/changes/producers';
import type { IngestResult, MaintainResult } from '../../src/shared';
import { applyIngestSchedule } from '../../src/starters/schedule';
import { trinoTag } from '../../src/engines/trino';
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
import { exited, spawnCrashingWorker } from '../support/suite';
import { asStrings, ReferenceTable } from '../support/reference';

const COLUMNS = ['tenant', 'id', 'seq', 'name', 'amount'];
const ev = (op: ChangeEvent['op'], second: number, id: number, name: string | null): ChangeEvent => ({
  op,
  ts: `2026-11-21 11:00:${String(second).padStart(2, '0')}.000000`,
  values: { tenant: 't', id, seq: second, name, amount: name ? '1.00' : null },
});

/**
 * A worker in its own process is killed with SIGKILL at a precise point of a batch; a new worker must finish the
 * batch with the table equal to the reference, no file deleted before its rows were merged, and one MERGE only.
 */
describe('crash safety: the worker is SIGKILLed mid-batch', function () {
  this.timeout(300_000);
  let h: Harness;
  before(async () => {
    h = await openHarness();
  });
  after(async () => h?.close());

  const cases: { failpoint: Failpoint; signal?: 'SIGTERM'; when: string; mergedBeforeCrash?: boolean }[] = [
    { failpoint: 'await-query', when: 'killed after the MERGE was submitted, before it finished', mergedBeforeCrash: false },
    { failpoint: 'before-cleanup', when: 'killed between MERGE success and cleanup', mergedBeforeCrash: true },
    { failpoint: 'cleanup-chunk', when: 'killed during cleanup (one of three files deleted)', mergedBeforeCrash: true },
    // A graceful stop drains: the wait hands over through its heartbeat, the query keeps running, the process exits 0.
    { failpoint: 'await-query', signal: 'SIGTERM', when: 'stopped with SIGTERM while awaiting the MERGE' },
  ];

  for (const { failpoint, signal, when, mergedBeforeCrash } of cases) {
    it(`finishes the batch on a new worker when ${when}`, async () => {
      const def = tableFor(uniqueName(`crash_${failpoint.replace('-', '_')}${signal ? '_term' : ''}`));
      await createTable(h, def);
      const reference = new ReferenceTable(def.primaryKey);
      const files = [
        [ev('I', 1, 1, 'a'), ev('I', 2, 2, 'b')],
        [ev('U', 3, 1, 'a2'), ev('D', 4, 2, null)],
        [ev('I', 5, 3, 'c'), ev('U', 6, 3, 'c2')],
      ];
      const uris: string[] = [];
      for (const [i, events] of files.entries()) {
        uris.push(await putChangeFile(h, def, `f${i}.csv`, events));
        reference.deliver(`f${i}.csv`, events);
      }
      const taskQueue = uniqueName('crash_tq');
      const handle = await h.client.workflow.start('ingestBatch', {
        taskQueue,
        workflowId: uniqueName('crash'),
        args: [{ version: 1, table: def }],
      });

      const crashing = spawnCrashingWorker(taskQueue, failpoint, signal);
      if (signal) assert.equal(await exited(crashing), 0, 'the worker drained and exited cleanly');
      else assert.equal(await exited(crashing), 'SIGKILL', 'the worker died at the failpoint');

      // What the crash left: never a file gone whose rows are not in the table.
      const left = await listUris(h, def.staging.location);
      const rows = asStrings(await currentRows(h, def), COLUMNS);
      if (failpoint === 'cleanup-chunk') assert.equal(left.length, uris.length - 1, 'exactly one file was deleted');
      else assert.deepEqual(left, uris.sort(), 'no file deleted yet');
      if (mergedBeforeCrash) assert.deepEqual(rows, reference.rows(COLUMNS), 'rows merged before any delete');

      const worker = await startWorker(h, taskQueue);
      try {
        const result: IngestResult = await handle.result();
        assert.equal(result.outcome, 'merged');
        assert.equal(result.submissions, 1);
      } finally {
        await worker.stop();
      }
      assert.deepEqual(asStrings(await currentRows(h, def), COLUMNS), reference.rows(COLUMNS));
      assert.deepEqual(await listUris(h, def.staging.location), []);
      const { runId } = await handle.describe();
      const merges = await h.trino.query(
        `SELECT query_id FROM system.runtime.queries WHERE source = '${trinoTag(`icetide-${runId}-1`)}' AND query LIKE 'MERGE%'`,
      );
      assert.equal(merges.length, 1, 'the MERGE ran once');
    });
  }

  for (const step of ['compaction', 'expiry'] as const) {
    it(`finishes maintenance on a new worker when killed right after submitting ${step}; ingestion is held meanwhile and resumed`, async () => {
      const def = tableFor(uniqueName(`crash_maint_${step}`), { maintenance: { retain: { snapshots: '0s', orphans: '0s' } } });
      await createTable(h, def);
      const taskQueue = uniqueName('crash_maint_tq');
      const reference = new ReferenceTable(def.primaryKey);
      const ingestWorker = await startWorker(h, taskQueue);
      try {
        for (let i = 0; i < 6; i++) {
          const events = [ev('I', 10 + i, i, `v${i}`), ev('U', 20 + i, (i + 1) % 6, `u${i}`), ev('D', 30 + i, (i + 3) % 6, null)];
          await putChangeFile(h, def, `m${i}.csv`, events);
          reference.deliver(`m${i}.csv`, events);
          await h.client.workflow.execute('ingestBatch', {
            taskQueue,
            workflowId: uniqueName('crash_maint_ingest'),
            args: [{ version: 1, table: def }],
          });
        }
      } finally {
        await ingestWorker.stop();
      }
      const schedule = h.client.schedule.getHandle(await applyIngestSchedule(h.client, def, taskQueue));
      const handle = await h.client.workflow.start('maintainTable', {
        taskQueue,
        workflowId: uniqueName('crash_maint'),
        args: [{ version: 1, table: def }],
      });

      const crashing = spawnCrashingWorker(taskQueue, `submitted-${step}`);
      assert.equal(await exited(crashing), 'SIGKILL', 'the worker died at the failpoint');
      assert.equal((await schedule.describe()).state.paused, true, 'ingestion is held while the step is in flight');

      const worker = await startWorker(h, taskQueue);
      try {
        const result: MaintainResult = await handle.result();
        assert.equal(result.compaction.after.deleteFiles, 0);
        assert.equal(result.compaction.after.partitionsToCompact, 0);
      } finally {
        await worker.stop();
      }
      const { state } = await schedule.describe();
      assert.equal(state.paused, false, 'ingestion was resumed');
      await schedule.delete();
      assert.deepEqual(asStrings(await currentRows(h, def), COLUMNS), reference.rows(COLUMNS));
    });
  }
});
