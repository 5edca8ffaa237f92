import assert from 'node:assert/strict';
import type { Failpoint } from '../../src/activities';
import type { ChangeEvent } from '../../src/changes/dms-csv';
import type { IngestResult } from '../../src/shared';
import { trinoTag } from '../../src/engines/trino';
import {
  createTable,
  currentRows,
  exited,
  listUris,
  openHarness,
  putChangeFile,
  spawnCrashingWorker,
  startWorker,
  tableFor,
  uniqueName,
  type Harness,
} from '../support/harness';
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
});
