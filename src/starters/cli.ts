import { Client, Connection } from '@temporalio/client';
import { Command } from 'commander';
import { loadRuntimeConfig } from '../config/runtime';
import { loadTableDefinition } from '../config/load';
import {
  ingestScheduleId,
  maintainScheduleId,
  OUTCOME_SEARCH_ATTRIBUTE,
  TABLE_SEARCH_ATTRIBUTE,
  tableName,
  type IngestResult,
  type MaintainResult,
} from '../shared';
import { applyIngestSchedule, applyMaintainSchedule, triggerIngest } from './schedule';

/**
 * icetide's command line: manage a table's ingest schedule. Tables are created by the worker's engine on `apply`
 * (runStatement workflows), so the CLI itself needs only Temporal.
 */
async function withClient<T>(fn: (client: Client, taskQueue: string) => Promise<T>): Promise<T> {
  const config = loadRuntimeConfig();
  const connection = await Connection.connect({ address: config.ICETIDE_TEMPORAL_ADDRESS });
  try {
    return await fn(new Client({ connection, namespace: config.ICETIDE_TEMPORAL_NAMESPACE }), config.ICETIDE_TASK_QUEUE);
  } finally {
    await connection.close();
  }
}

const program = new Command('icetide').description('Keep Iceberg tables in step with CDC change files, on Temporal');

program
  .command('apply <table.yaml>')
  .description('create or update the table (staging, Iceberg target, current view), its ingest and maintenance schedules')
  .action((file: string) =>
    withClient(async (client, taskQueue) => {
      const def = await loadTableDefinition(file);
      const { schemaChanges } = await client.workflow.execute('ensureTable', {
        taskQueue,
        workflowId: `icetide:ddl:${tableName(def)}`,
        args: [def],
      });
      for (const sql of schemaChanges) console.log(`schema change: ${sql}`);
      const schedules = [await applyIngestSchedule(client, def, taskQueue), await applyMaintainSchedule(client, def, taskQueue)];
      console.log(`table ${tableName(def)} ready; schedules ${schedules.join(' and ')} applied`);
    }),
  );

program
  .command('maintain <table.yaml>')
  .description("run the table's maintenance now (compaction, tombstone purge, snapshot expiry, orphan files) and wait")
  .action((file: string) =>
    withClient(async (client, taskQueue) => {
      const def = await loadTableDefinition(file);
      const result: MaintainResult = await client.workflow.execute('maintainTable', {
        taskQueue,
        workflowId: `${maintainScheduleId(def)}:now`,
        args: [{ version: 1, table: def }],
        typedSearchAttributes: [{ key: TABLE_SEARCH_ATTRIBUTE, value: tableName(def) }],
        staticSummary: `maintenance of ${tableName(def)} (icetide maintain)`,
      });
      const { before, after } = result.compaction;
      console.log(
        `${result.table}: data files ${before.dataFiles} → ${after.dataFiles}, delete files ${before.deleteFiles} → ${after.deleteFiles}, ` +
          `snapshots ${result.expiry.before.snapshots} → ${result.expiry.after.snapshots}` +
          (result.purge ? `, ${result.purge.tombstones} tombstone(s) older than ${result.purge.horizon} purged` : ''),
      );
      for (const warning of result.warnings) console.log(`  warning: ${warning}`);
    }),
  );

program
  .command('trigger <table.yaml>')
  .description('run a batch now (skipped if one is running)')
  .action((file: string) => withClient(async (client) => triggerIngest(client, await loadTableDefinition(file))));

for (const [name, verb] of [
  ['pause', 'pause'],
  ['resume', 'unpause'],
] as const) {
  program
    .command(`${name} <table.yaml>`)
    .description(`${name} the table's ingest schedule`)
    .action((file: string) =>
      withClient(async (client) => {
        const def = await loadTableDefinition(file);
        await client.schedule.getHandle(ingestScheduleId(def))[verb](`icetide ${name}`);
        console.log(`${ingestScheduleId(def)}: ${name}d`);
      }),
    );
}

program
  .command('status <table.yaml>')
  .description("the schedule's state and the latest run's outcome and watermark")
  .action((file: string) =>
    withClient(async (client) => {
      const def = await loadTableDefinition(file);
      const schedule = await client.schedule.getHandle(ingestScheduleId(def)).describe();
      console.log(
        `${schedule.scheduleId}: ${schedule.state.paused ? 'paused' : 'active'}, next ${schedule.info.nextActionTimes[0]?.toISOString() ?? '-'}`,
      );
      const last = schedule.info.recentActions.at(-1);
      if (!last) return console.log('no run yet');
      const run = client.workflow.getHandle(last.action.workflow.workflowId, last.action.workflow.firstExecutionRunId);
      const { status, typedSearchAttributes } = await run.describe();
      console.log(`latest run ${last.action.workflow.workflowId}: ${status.name}`);
      if (status.name === 'RUNNING') {
        // The run says which step it waits on and since when; IcetideOutcome=overdue once past limits.overdueAfter.
        const { currentDetails } = await run.query<{ currentDetails?: string }>('__temporal_workflow_metadata');
        const overdue = typedSearchAttributes.get(OUTCOME_SEARCH_ATTRIBUTE) === 'overdue';
        console.log(`  ${overdue ? 'OVERDUE: ' : ''}${currentDetails ?? 'starting'}`);
      }
      if (status.name === 'COMPLETED') {
        const result: IngestResult = await run.result();
        console.log(
          `  ${result.outcome}: ${result.rows} change(s) from ${result.files} file(s); applied through ${result.watermark.appliedThrough ?? '-'}`,
        );
      }
    }),
  );

program.parseAsync().catch((err: Error) => {
  console.error(`icetide: ${err.message}`);
  process.exit(1);
});
