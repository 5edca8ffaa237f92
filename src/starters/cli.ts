import { Client, Connection } from '@temporalio/client';
import { Command } from 'commander';
import { loadRuntimeConfig } from '../config/runtime';
import { loadTableDefinition } from '../config/load';
import { ingestScheduleId, tableName, type IngestResult } from '../shared';
import { applyIngestSchedule, triggerIngest } from './schedule';

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
  .description('create or update the table (staging, Iceberg target, current view) and its ingest schedule')
  .action((file: string) =>
    withClient(async (client, taskQueue) => {
      const def = await loadTableDefinition(file);
      await client.workflow.execute('ensureTable', { taskQueue, workflowId: `icetide:ddl:${tableName(def)}`, args: [def] });
      console.log(`table ${tableName(def)} ready; schedule ${await applyIngestSchedule(client, def, taskQueue)} applied`);
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
      const { status } = await run.describe();
      console.log(`latest run ${last.action.workflow.workflowId}: ${status.name}`);
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
