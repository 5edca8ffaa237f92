import { ApplicationFailure, workflowInfo } from '@temporalio/workflow';
import type { TableDefinition } from '../config/schema';
import { tableName, type QueryOutcome, type TableChanges } from '../shared';
import { withQueryPermit } from './quota';
import { boundedActivities } from './steps';

const DEFAULT_TRANSIENT_RETRY = '10m';

/** Runs one SQL statement on the engine through the same durable submit/await activities as a batch's MERGE. */
export async function runStatement(input: { sql: string; label: string }): Promise<QueryOutcome> {
  const act = boundedActivities(DEFAULT_TRANSIENT_RETRY, input.label);
  const outcome = await withQueryPermit(undefined, input.label, async () => {
    const handle = await act.step.startStatement({ sql: input.sql, token: `icetide-${workflowInfo().runId}-statement` });
    return act.awaitQuery(input.label, handle);
  });
  if (outcome.state !== 'SUCCEEDED') {
    throw ApplicationFailure.nonRetryable(
      `${input.label}: query ${outcome.handle.queryId} ${outcome.state}: ${outcome.error?.message ?? 'no message'}`,
      'QueryFailed',
    );
  }
  return outcome;
}

/** Creates a table's staging table, Iceberg target and current view, or brings them to the definition (idempotent), on a worker's engine. */
export async function ensureTable(def: TableDefinition): Promise<{ schemaChanges: string[] }> {
  const { step } = boundedActivities(def.limits.transientRetry, tableName(def));
  return withQueryPermit(undefined, `${tableName(def)} DDL`, () => step.ensureTable(def));
}

/** What ensureTable would do to the table, without doing it (`icetide plan`). */
export async function planTable(def: TableDefinition): Promise<TableChanges> {
  const { step } = boundedActivities(def.limits.transientRetry, tableName(def));
  return withQueryPermit(undefined, `${tableName(def)} plan`, () => step.planTable(def));
}
