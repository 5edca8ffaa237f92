import { ScheduleNotFoundError, ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import type { TableDefinition } from '../config/schema';
import { durationMillis } from '../config/duration';
import { ingestScheduleId, TABLE_SEARCH_ATTRIBUTE, tableName, type IngestInput } from '../shared';

/**
 * One Schedule per table starts its ingest runs. Overlap SKIP: a table never has two batches at once — a tick that
 * comes while a batch runs is dropped, the next tick picks up what is waiting. Creating or updating is idempotent.
 */
export async function applyIngestSchedule(client: Client, def: TableDefinition, taskQueue: string): Promise<string> {
  const scheduleId = ingestScheduleId(def);
  const input: IngestInput = { version: 1, table: def };
  const action = {
    type: 'startWorkflow' as const,
    workflowType: 'ingestBatch',
    args: [input],
    taskQueue,
    workflowId: `icetide:ingest:${tableName(def)}`,
    typedSearchAttributes: [{ key: TABLE_SEARCH_ATTRIBUTE, value: tableName(def) }],
    staticSummary: `ingest batch for ${tableName(def)}`,
  };
  const spec = { intervals: [{ every: durationMillis(def.schedule.every) }] };
  const policies = { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: 60_000 };
  try {
    await client.schedule.getHandle(scheduleId).update((previous) => ({ ...previous, spec, action, policies }));
  } catch (err) {
    if (!(err instanceof ScheduleNotFoundError)) throw err;
    await client.schedule.create({ scheduleId, spec, action, policies });
  }
  return scheduleId;
}

/** Run a batch now. trigger() defaults to ALLOW_ALL; SKIP keeps the one-batch-per-table rule. */
export async function triggerIngest(client: Client, def: TableDefinition): Promise<void> {
  await client.schedule.getHandle(ingestScheduleId(def)).trigger(ScheduleOverlapPolicy.SKIP);
}
