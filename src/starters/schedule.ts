import { randomUUID } from 'node:crypto';
import {
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  type Client,
  type ScheduleDescription,
  type ScheduleOptionsAction,
  type ScheduleSpec,
} from '@temporalio/client';
import type { TableDefinition } from '../config/schema';
import { durationMillis } from '../config/duration';
import { ingestScheduleId, maintainScheduleId, TABLE_SEARCH_ATTRIBUTE, tableName, type IngestInput, type MaintainInput } from '../shared';
import type { RunModelsInput } from '../workflows/models';

/**
 * One Schedule per table starts its ingest runs. Overlap SKIP: a table never has two batches at once — a tick that
 * comes while a batch runs is dropped, the next tick picks up what is waiting. Creating or updating is idempotent.
 */
export async function applyIngestSchedule(client: Client, def: TableDefinition, taskQueue: string): Promise<string> {
  const input: IngestInput = { version: 1, table: def };
  return upsertSchedule(client, {
    scheduleId: ingestScheduleId(def),
    spec: {
      intervals: [{ every: durationMillis(def.schedule.every), offset: phaseOf(tableName(def), durationMillis(def.schedule.every)) }],
    },
    catchupWindowMs: 60_000,
    action: tableRun(def, 'ingestBatch', `icetide:ingest:${tableName(def)}`, taskQueue, `ingest batch for ${tableName(def)}`),
    // The purge horizon belongs to the table's history, not to its definition: a re-apply keeps it.
    args: (previous) => {
      const [args] = previous?.action.type === 'startWorkflow' ? (previous.action.args as [IngestInput?]) : [];
      return [args?.purgedThrough ? { ...input, purgedThrough: args.purgedThrough } : input];
    },
  });
}

/**
 * Asks a blocked table to try its batch at the next run instead of waiting out its backoff: a fresh request id in
 * the schedule's arguments (see IngestInput.retryRequest). Harmless for a table that is not blocked.
 */
export async function requestRetry(client: Client, def: TableDefinition): Promise<void> {
  await client.schedule.getHandle(ingestScheduleId(def)).update((previous) => {
    if (previous.action.type !== 'startWorkflow') return previous;
    const [args] = previous.action.args as [IngestInput];
    return { ...previous, action: { ...previous.action, args: [{ ...args, retryRequest: randomUUID() }] } };
  });
}

/**
 * The table's daily maintenance run (compaction, tombstone purge, snapshot expiry, orphan files) at the definition's
 * time of day and time zone. Overlap SKIP: a run still going when the next day comes keeps the table to itself.
 */
export async function applyMaintainSchedule(client: Client, def: TableDefinition, taskQueue: string): Promise<string> {
  const input: MaintainInput = { version: 1, table: def };
  const [hour, minute] = def.maintenance.schedule.at.split(':').map(Number);
  return upsertSchedule(client, {
    scheduleId: maintainScheduleId(def),
    spec: { calendars: [{ hour, minute }], timezone: def.maintenance.schedule.timeZone },
    catchupWindowMs: 3_600_000,
    action: tableRun(def, 'maintainTable', maintainScheduleId(def), taskQueue, `maintenance of ${tableName(def)}`),
    args: () => [input],
  });
}

/**
 * The project's models on `modelRuns.every`: one DAG run per tick, overlap SKIP (a run still going keeps the engine
 * to itself). Its arguments are the models as the project file had them at `apply`.
 */
export async function applyModelsSchedule(
  client: Client,
  scheduleId: string,
  input: RunModelsInput,
  every: string,
  taskQueue: string,
): Promise<string> {
  return upsertSchedule(client, {
    scheduleId,
    spec: { intervals: [{ every: durationMillis(every) }] },
    catchupWindowMs: 60_000,
    action: {
      type: 'startWorkflow',
      workflowType: 'runModels',
      taskQueue,
      workflowId: scheduleId,
      staticSummary: `models: ${input.models.length} model(s)`,
    },
    args: () => [input],
  });
}

/**
 * Where in its period a table's batches start: a stable hash of its name, in whole seconds. Tables on the same
 * cadence then start spread over the period instead of all at its first second, which would queue hundreds of runs
 * on Temporal, the worker and the engine at once; each table still runs once per period.
 */
export function phaseOf(table: string, everyMs: number): number {
  let hash = 0x811c9dc5; // FNV-1a
  for (const ch of table) hash = Math.imul(hash ^ ch.codePointAt(0)!, 0x01000193) >>> 0;
  return (hash % Math.max(1, Math.floor(everyMs / 1000))) * 1000;
}

/** A schedule's description, or undefined when there is no such schedule. */
export async function findSchedule(client: Client, scheduleId: string): Promise<ScheduleDescription | undefined> {
  try {
    return await client.schedule.getHandle(scheduleId).describe();
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) return undefined;
    throw err;
  }
}

/** Run a batch now. trigger() defaults to ALLOW_ALL; SKIP keeps the one-batch-per-table rule. */
export async function triggerIngest(client: Client, def: TableDefinition): Promise<void> {
  await client.schedule.getHandle(ingestScheduleId(def)).trigger(ScheduleOverlapPolicy.SKIP);
}

type TableRun = Omit<Extract<ScheduleOptionsAction, { type: 'startWorkflow' }>, 'args'>;

const tableRun = (def: TableDefinition, workflowType: string, workflowId: string, taskQueue: string, staticSummary: string): TableRun => ({
  type: 'startWorkflow',
  workflowType,
  taskQueue,
  workflowId,
  typedSearchAttributes: [{ key: TABLE_SEARCH_ATTRIBUTE, value: tableName(def) }],
  staticSummary,
});

/** Creates the schedule, or updates it in place (keeping its state, such as a pause); overlap SKIP always. */
async function upsertSchedule(
  client: Client,
  options: {
    scheduleId: string;
    spec: ScheduleSpec;
    catchupWindowMs: number;
    action: TableRun;
    args: (previous?: ScheduleDescription) => unknown[];
  },
): Promise<string> {
  const { scheduleId, spec } = options;
  const policies = { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: options.catchupWindowMs };
  try {
    await client.schedule
      .getHandle(scheduleId)
      .update((previous) => ({ ...previous, spec, action: { ...options.action, args: options.args(previous) }, policies }));
  } catch (err) {
    if (!(err instanceof ScheduleNotFoundError)) throw err;
    await client.schedule.create({ scheduleId, spec, action: { ...options.action, args: options.args() }, policies });
  }
  return scheduleId;
}
