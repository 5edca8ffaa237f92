import { setTimeout as delay } from 'node:timers/promises';
import { ScheduleOverlapPolicy, WorkflowFailedError, type Client, type ScheduleDescription, type WorkflowHandle } from '@temporalio/client';
import type { Project } from '../config/project';
import type { TableDefinition } from '../config/schema';
import { ingestScheduleId, tableName, type IngestResult } from '../shared';
import { runLink } from './context';
import { findSchedule, requestRetry } from './schedule';
import { batchScan, formatBytes, formatDuration, formatUsd, sum } from './text';

/**
 * `icetide run <table>`: one batch now, through the table's schedule (so it continues from the schedule's watermark and
 * keeps one batch per table: when a batch is already running, it is the one followed).
 */
export async function startBatch(client: Client, def: TableDefinition): Promise<{ handle: WorkflowHandle; alreadyRunning: boolean }> {
  const schedule = client.schedule.getHandle(ingestScheduleId(def));
  const runIds = (info: ScheduleDescription['info']) => [
    ...info.runningActions.map((a) => a.workflow),
    ...info.recentActions.map((a) => a.action.workflow),
  ];
  const before = await findSchedule(client, ingestScheduleId(def));
  if (!before) throw new Error(`table ${tableName(def)} has no schedule yet: run \`icetide apply\` first`);
  const known = new Set(runIds(before.info).map((w) => w.firstExecutionRunId));
  await requestRetry(client, def); // a blocked table tries now
  await schedule.trigger(ScheduleOverlapPolicy.SKIP);
  for (let attempt = 0; attempt < 50; attempt++) {
    const { info } = await schedule.describe();
    const started = runIds(info).find((w) => !known.has(w.firstExecutionRunId));
    if (started) return { handle: client.workflow.getHandle(started.workflowId, started.firstExecutionRunId), alreadyRunning: false };
    const running = info.runningActions[0]?.workflow;
    if (running && attempt >= 5)
      return { handle: client.workflow.getHandle(running.workflowId, running.firstExecutionRunId), alreadyRunning: true };
    await delay(200);
  }
  throw new Error(`table ${tableName(def)}: the schedule did not start a batch (is it paused? \`icetide resume\`)`);
}

/**
 * Follows a batch to its end with a live progress line (its step, since when, elapsed) and prints the outcome.
 * Returns whether it succeeded.
 */
export async function followBatch(handle: WorkflowHandle, project: Project, out: NodeJS.WriteStream = process.stdout): Promise<boolean> {
  const live = out.isTTY;
  let shown = '';
  const started = Date.now();
  for (;;) {
    const { status } = await handle.describe();
    if (status.name !== 'RUNNING') break;
    const { currentDetails } = await handle
      .query<{ currentDetails?: string }>('__temporal_workflow_metadata')
      .catch(() => ({ currentDetails: undefined }));
    const line = `${currentDetails ?? 'starting'} (${formatDuration(Date.now() - started)})`;
    if (live) out.write(`\r\x1b[2K${line}`);
    else if (currentDetails !== shown) out.write(`${line}\n`);
    shown = currentDetails ?? '';
    await delay(live ? 500 : 1000);
  }
  if (live) out.write('\r\x1b[2K');
  try {
    const result: IngestResult = await handle.result();
    out.write(`${describeBatch(result, project, Date.now() - started)}\n`);
    return true;
  } catch (err) {
    const message = err instanceof WorkflowFailedError ? (err.cause?.message ?? err.message) : (err as Error).message;
    out.write(`failed: ${message}\n  see ${runLink(project, handle.workflowId)}\n`);
    return false;
  }
}

/** One line on a finished batch: what it merged, what it wrote and read, what that costs on Athena. */
export function describeBatch(result: IngestResult, project: Project, millis?: number): string {
  const took = millis === undefined ? '' : `, ${formatDuration(millis)}`;
  const quarantined = result.quarantined.length ? `, ${result.quarantined.length} file(s) quarantined` : '';
  if (result.outcome === 'idle') return `${result.table}: nothing to merge${quarantined}${took}`;
  const { scannedBytes, costUsd } = batchScan(result);
  const check = result.checkScannedBytes?.length ? ` (${formatBytes(sum(result.checkScannedBytes))} by the check)` : '';
  const cost = project.runtime.ICETIDE_ENGINE === 'athena' ? `, ~${formatUsd(costUsd)} on Athena` : '';
  return (
    `${result.table}: merged ${result.rows} change(s) from ${result.files} file(s): ${result.updatedRows ?? '?'} row(s) written, ` +
    `${formatBytes(scannedBytes)} scanned${check}${cost}${took}, query ${result.queryId}; applied through ${result.watermark.appliedThrough ?? '-'}${quarantined}`
  );
}
