import { ApplicationFailure, WorkflowFailedError, type Client } from '@temporalio/client';
import type { Project } from '../config/project';
import type { TableDefinition } from '../config/schema';
import { formatOf } from '../formats/registry';
import {
  ingestScheduleId,
  maintainScheduleId,
  OUTCOME_SEARCH_ATTRIBUTE,
  tableName,
  watermarkMillis,
  type BlockedState,
  type IngestResult,
  type MaintainResult,
  TABLE_BLOCKED,
} from '../shared';
import type { StagingStore } from '../storage/staging';
import { findSchedule } from './schedule';
import { batchScan, formatBytes, formatDuration, formatUsd } from './text';

/** `icetide status`: what a table's operator looks at first. Times are ISO strings, durations milliseconds. */
export interface TableStatus {
  table: string;
  schedule: { state: 'active' | 'paused' | 'missing'; nextRun?: string };
  /** Newest commit time applied, and how far behind now it is. */
  appliedThrough?: string;
  freshnessLagMs?: number;
  waiting: { files: number; bytes: number };
  running?: { workflowId: string; details: string; overdue: boolean };
  lastBatch?: {
    at: string;
    outcome: IngestResult['outcome'];
    changes: number;
    files: number;
    rowsWritten?: number;
    bytesScanned?: number;
    athenaCostUsd?: number;
    durationMs: number;
    queryId?: string;
  };
  lastFailure?: { at: string; workflowId: string; message: string };
  /** The newest run failed because the table is blocked (workflows/blocked.ts): since when, why, the next attempt. */
  blocked?: BlockedState;
  lastMaintenance?: { at: string; status: string; summary?: string };
}

export async function tableStatus(client: Client, staging: StagingStore, project: Project, def: TableDefinition): Promise<TableStatus> {
  const status: TableStatus = { table: tableName(def), schedule: { state: 'missing' }, waiting: await waitingFiles(staging, def) };
  const schedule = await findSchedule(client, ingestScheduleId(def));
  if (schedule) {
    status.schedule = { state: schedule.state.paused ? 'paused' : 'active', nextRun: schedule.info.nextActionTimes[0]?.toISOString() };
    // Newest first; the schedule keeps its last ten actions.
    for (const action of [...schedule.info.recentActions].reverse()) {
      if (status.lastBatch && status.lastFailure) break; // older runs would change neither
      const run = client.workflow.getHandle(action.action.workflow.workflowId, action.action.workflow.firstExecutionRunId);
      const description = await run.describe();
      const at = description.startTime.toISOString();
      if (description.status.name === 'RUNNING') {
        if (!status.running) {
          const { currentDetails } = await run.query<{ currentDetails?: string }>('__temporal_workflow_metadata');
          const overdue = description.typedSearchAttributes.get(OUTCOME_SEARCH_ATTRIBUTE) === 'overdue';
          status.running = { workflowId: run.workflowId, details: currentDetails ?? 'starting', overdue };
        }
      } else if (description.status.name === 'COMPLETED') {
        if (status.lastBatch) continue;
        const result: IngestResult = await run.result();
        const durationMs = (description.closeTime?.getTime() ?? Date.now()) - description.startTime.getTime();
        const scan = result.stats ? batchScan(result) : undefined;
        status.lastBatch = {
          at,
          outcome: result.outcome,
          changes: result.rows,
          files: result.files,
          rowsWritten: result.updatedRows,
          bytesScanned: scan?.scannedBytes,
          athenaCostUsd: project.runtime.ICETIDE_ENGINE === 'athena' ? scan?.costUsd : undefined,
          durationMs,
          queryId: result.queryId,
        };
        status.appliedThrough = result.watermark.appliedThrough;
        if (status.appliedThrough) status.freshnessLagMs = Date.now() - watermarkMillis(status.appliedThrough);
      } else if (!status.lastFailure) {
        status.lastFailure = { at, workflowId: run.workflowId, message: await failureMessage(run.result(), description.status.name) };
        if (!status.lastBatch) status.blocked = await blockedState(run.result());
      }
    }
  }
  const maintenance = await findSchedule(client, maintainScheduleId(def));
  const lastMaintenance = maintenance?.info.recentActions.at(-1)?.action.workflow;
  if (lastMaintenance) {
    const run = client.workflow.getHandle(lastMaintenance.workflowId, lastMaintenance.firstExecutionRunId);
    const description = await run.describe();
    status.lastMaintenance = { at: description.startTime.toISOString(), status: description.status.name };
    if (description.status.name === 'COMPLETED') {
      const { compaction }: MaintainResult = await run.result();
      status.lastMaintenance.summary = `files ${compaction.before.dataFiles + compaction.before.deleteFiles} → ${compaction.after.dataFiles + compaction.after.deleteFiles}`;
    } else if (description.status.name !== 'RUNNING') {
      status.lastMaintenance.summary = await failureMessage(run.result(), description.status.name);
    }
  }
  return status;
}

/** One line per table, for people; `--json` prints the TableStatus objects instead. */
export function describeStatus(status: TableStatus): string {
  const parts = [status.table, `schedule ${status.schedule.state}${status.schedule.nextRun ? `, next ${status.schedule.nextRun}` : ''}`];
  parts.push(
    status.appliedThrough
      ? `applied through ${status.appliedThrough} (lag ${formatDuration(status.freshnessLagMs ?? 0)})`
      : 'nothing applied yet',
  );
  parts.push(`waiting ${status.waiting.files} file(s), ${formatBytes(status.waiting.bytes)}`);
  if (status.blocked) {
    const { since, attempts, nextAttemptAt } = status.blocked;
    parts.push(`BLOCKED since ${since} (${attempts} attempt(s)), next attempt ${nextAttemptAt}`);
  }
  if (status.running) parts.push(`${status.running.overdue ? 'OVERDUE ' : ''}running: ${status.running.details}`);
  const last = status.lastBatch;
  if (last) {
    const cost = last.athenaCostUsd === undefined ? '' : ` ~${formatUsd(last.athenaCostUsd)}`;
    parts.push(
      last.outcome === 'idle'
        ? `last batch ${last.at}: idle`
        : `last batch ${last.at}: ${last.changes} change(s), ${last.rowsWritten ?? '?'} row(s) written, ${formatBytes(last.bytesScanned ?? 0)} scanned${cost}, ` +
            `${formatDuration(last.durationMs)}, query ${last.queryId}`,
    );
  }
  if (status.lastFailure) parts.push(`last failure ${status.lastFailure.at}: ${status.lastFailure.message}`);
  if (status.lastMaintenance) {
    const { at, status: state, summary } = status.lastMaintenance;
    parts.push(`last maintenance ${at}: ${state.toLowerCase()}${summary ? ` (${summary})` : ''}`);
  }
  return parts.join(' | ');
}

/** Change files waiting in staging (a folder format counts its exports), and the bytes under the staging location. */
async function waitingFiles(staging: StagingStore, def: TableDefinition): Promise<TableStatus['waiting']> {
  const format = formatOf(def);
  const files = await staging.list(def.staging.location);
  return {
    files: files.filter((f) => format.isChangeFile(f.uri.slice(def.staging.location.length))).length,
    bytes: files.reduce((sum, f) => sum + f.size, 0),
  };
}

/** A run's blocked state, when it failed because its table is blocked. */
async function blockedState(result: Promise<unknown>): Promise<BlockedState | undefined> {
  const cause = await result.then(
    () => undefined,
    (err: unknown) => (err instanceof WorkflowFailedError ? err.cause : undefined),
  );
  return cause instanceof ApplicationFailure && cause.type === TABLE_BLOCKED ? (cause.details?.[0] as BlockedState) : undefined;
}

async function failureMessage(result: Promise<unknown>, status: string): Promise<string> {
  try {
    await result;
    return status;
  } catch (err) {
    return err instanceof WorkflowFailedError ? (err.cause?.message ?? err.message) : `${status}: ${(err as Error).message}`;
  }
}
