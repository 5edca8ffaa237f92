import assert from 'node:assert/strict';
import type { ScheduleHandle } from '@temporalio/client';
import type { ChangeEvent } from '../../src/changes/producers';
import { ingestScheduleId, tableName, type IngestResult } from '../../src/shared';
import { applyIngestSchedule, triggerIngest } from '../../src/starters/schedule';
import { createTable, listUris, putChangeFile, tableFor, uniqueName } from '../../local/harness/harness';
import { useStackWithWorker } from '../support/suite';

const ev = (second: number, id: number): ChangeEvent => ({
  op: 'I',
  ts: `2026-11-21 12:00:${String(second).padStart(2, '0')}.000000`,
  values: { tenant: 's', id, seq: second, name: `n${id}`, amount: '1.00' },
});

describe('the per-table ingest schedule', function () {
  this.timeout(180_000);
  const stack = useStackWithWorker('schedule_tq');

  /** The completed runs of this table's schedule, found by the IcetideTable search attribute. */
  async function completedRuns(table: string, count: number): Promise<IngestResult[]> {
    for (let i = 0; i < 100; i++) {
      const runs = [];
      for await (const run of stack.h.client.workflow.list({ query: `IcetideTable = "${table}" AND ExecutionStatus = "Completed"` }))
        runs.push(run);
      if (runs.length >= count) {
        runs.sort((a, b) => a.startTime.getTime() - b.startTime.getTime());
        return Promise.all(runs.map((r) => stack.h.client.workflow.getHandle(r.workflowId, r.runId).result()));
      }
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    throw new Error(`fewer than ${count} completed runs of ${table}`);
  }

  /** The schedule's counts once `triggers` triggers have each been either started or skipped. */
  async function settled(schedule: ScheduleHandle, triggers: number) {
    for (let i = 0; i < 100; i++) {
      const { info } = await schedule.describe();
      if (info.recentActions.length + info.numActionsSkippedOverlap >= triggers) return info;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    throw new Error(`the schedule did not account for ${triggers} triggers`);
  }

  it('runs one batch at a time, tags runs with the table, and carries the watermark from run to run', async () => {
    const def = tableFor(uniqueName('sched'));
    await createTable(stack.h, def);
    const scheduleId = await applyIngestSchedule(stack.h.client, def, stack.taskQueue);
    assert.equal(scheduleId, ingestScheduleId(def));
    assert.equal(await applyIngestSchedule(stack.h.client, def, stack.taskQueue), scheduleId, 'applying again updates in place');
    const schedule = stack.h.client.schedule.getHandle(scheduleId);
    try {
      assert.equal((await schedule.describe()).policies.overlap, 'SKIP');

      await putChangeFile(stack.h, def, 'f1.csv', [ev(30, 1)]);
      // Two triggers at once: the second is skipped while the first runs (or, should the first have finished
      // already, runs after it) — never beside it.
      await triggerIngest(stack.h.client, def);
      await triggerIngest(stack.h.client, def);
      const [first] = await completedRuns(tableName(def), 1);
      assert.equal(first.watermark.appliedThrough, '2026-11-21 12:00:30.000000');
      const pair = await settled(schedule, 2);
      assert.equal(pair.recentActions.length + pair.numActionsSkippedOverlap, 2, 'each trigger ran or was skipped');
      await completedRuns(tableName(def), pair.recentActions.length);

      // A batch of older changes: the next run starts from the previous run's result, so the watermark stays put.
      await putChangeFile(stack.h, def, 'f2.csv', [ev(10, 2)]);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      await triggerIngest(stack.h.client, def);
      const runs = await completedRuns(tableName(def), pair.recentActions.length + 1);
      const last = runs.at(-1)!;
      assert.equal(last.outcome, 'merged');
      assert.equal(last.watermark.appliedThrough, '2026-11-21 12:00:30.000000', 'the watermark never moves back');
      assert.deepEqual(await listUris(stack.h, def.staging.location), []);
      const executions = [];
      for await (const run of stack.h.client.workflow.list({ query: `IcetideTable = "${tableName(def)}"` })) executions.push(run);
      executions.sort((a, b) => a.startTime.getTime() - b.startTime.getTime());
      for (let i = 1; i < executions.length; i++) {
        assert.ok(executions[i].startTime >= executions[i - 1].closeTime!, 'one batch at a time: runs never overlap');
      }
    } finally {
      await schedule.delete();
    }
  });
});
