import { Command, CommanderError } from 'commander';
import type { Project } from '../config/project';
import type { MaintainResult } from '../shared';
import type { RunModelsResult } from '../workflows/models';

// Each command imports what it needs when it runs: `icetide --help` loads no SDK (a worker's modules take seconds).
/**
 * The `icetide` command. Exit codes: 0 done; 1 the operation failed (a batch, a statement, Temporal or S3 refused);
 * 2 the command line or the project file is wrong. Errors are one line naming what failed.
 */
const EXIT_FAILED = 1;
const EXIT_USAGE = 2;

const program = new Command('icetide')
  .description('Keep Iceberg tables in step with CDC change files on S3, on Athena or Trino, with durable Temporal workflows')
  .option('-c, --config <file>', 'the project file', 'icetide.yaml')
  .showHelpAfterError()
  .exitOverride();

const project = async (): Promise<Project> => {
  const { config } = program.opts<{ config: string }>();
  const { openProject } = await import('./context');
  return openProject(program.getOptionValueSource('config') === 'default' ? undefined : config);
};

/** A subcommand with an example in its help. */
const command = (name: string, description: string, example: string): Command =>
  program.command(name).description(description).addHelpText('after', `\nExample:\n  $ ${example}`);

command(
  'worker',
  "run a worker for the project's engine and task queue until SIGINT/SIGTERM (in-flight work drains)",
  'icetide worker',
).action(async () => {
  const { runtime } = await project();
  const { installWorkerRuntime, runWorker } = await import('../worker');
  installWorkerRuntime(runtime);
  await runWorker(runtime);
});

command(
  'plan',
  'show what apply would change: tables to create or alter (with their DDL), schedules to create, update or remove',
  'icetide plan',
).action(async () => {
  const p = await project();
  const [{ withClient }, { describePlan, planProject }] = await Promise.all([import('./context'), import('./plan')]);
  const plan = await withClient(p, (client) => planProject(client, p));
  for (const line of describePlan(plan)) console.log(line);
  console.log(plan.changes.length ? `${plan.changes.length} change(s); run \`icetide apply\` to make them` : 'nothing to change');
});

command('apply', 'make tables and schedules match the project file (idempotent); a removed table keeps its data', 'icetide apply').action(
  async () => {
    const p = await project();
    const [{ withClient }, { applyPlan, describePlan, planProject }] = await Promise.all([import('./context'), import('./plan')]);
    await withClient(p, async (client) => {
      const plan = await planProject(client, p);
      for (const line of describePlan(plan)) console.log(line);
      await applyPlan(client, p, plan, (line) => console.log(line));
      console.log(plan.changes.length ? `applied ${plan.changes.length} change(s)` : 'nothing to change');
    });
  },
);

command('run <table>', 'run one batch of the table now and follow it to its end', 'icetide run shop.orders')
  .option('--no-wait', 'print the run and its Temporal UI link, and return')
  .action(async (name: string, options: { wait: boolean }) => {
    const p = await project();
    const [{ findTable }, { runLink, withClient }, { followBatch, startBatch }] = await Promise.all([
      import('../config/project'),
      import('./context'),
      import('./run'),
    ]);
    const ok = await withClient(p, async (client) => {
      const { handle, alreadyRunning } = await startBatch(client, findTable(p, name));
      console.log(`${alreadyRunning ? 'a batch was already running: ' : ''}${handle.workflowId}  ${runLink(p, handle.workflowId)}`);
      return options.wait ? followBatch(handle, p) : true;
    });
    if (!ok) process.exitCode = EXIT_FAILED;
  });

command(
  'status [tables...]',
  'one line per table: schedule, watermark and freshness lag, files waiting, last batch, last failure, last maintenance',
  'icetide status --json',
)
  .option('--json', 'print JSON (an array, one object per table)')
  .action(async (names: string[], options: { json?: boolean }) => {
    const p = await project();
    const [{ findTable }, { createS3Client }, { StagingStore }, { withClient }, { describeStatus, tableStatus }] = await Promise.all([
      import('../config/project'),
      import('../deps'),
      import('../storage/staging'),
      import('./context'),
      import('./status'),
    ]);
    const tables = names.length ? names.map((name) => findTable(p, name)) : p.tables;
    const staging = new StagingStore(createS3Client(p.runtime));
    const statuses = await withClient(p, (client) => Promise.all(tables.map((def) => tableStatus(client, staging, p, def))));
    if (options.json) console.log(JSON.stringify(statuses, null, 2));
    else for (const status of statuses) console.log(describeStatus(status));
  });

for (const [name, verb, description] of [
  ['pause', 'pause', 'stop scheduled batches of the table (a running one finishes)'],
  ['resume', 'unpause', 'start scheduled batches of the table again'],
] as const) {
  command(`${name} <table>`, description, `icetide ${name} shop.orders`).action(async (table: string) => {
    const p = await project();
    const [{ findTable }, { ingestScheduleId }, { withClient }] = await Promise.all([
      import('../config/project'),
      import('../shared'),
      import('./context'),
    ]);
    const def = findTable(p, table);
    await withClient(p, (client) => client.schedule.getHandle(ingestScheduleId(def))[verb](`icetide ${name}`));
    console.log(`${ingestScheduleId(def)}: ${name}d`);
  });
}

command('trigger <table>', 'start a batch of the table now and return (skipped when one is running)', 'icetide trigger shop.orders').action(
  async (table: string) => {
    const p = await project();
    const [{ findTable }, { ingestScheduleId }, { withClient }, { triggerIngest }] = await Promise.all([
      import('../config/project'),
      import('../shared'),
      import('./context'),
      import('./schedule'),
    ]);
    const def = findTable(p, table);
    await withClient(p, (client) => triggerIngest(client, def));
    console.log(`${ingestScheduleId(def)}: triggered`);
  },
);

command(
  'maintain <table>',
  "run the table's maintenance now (compaction, tombstone purge, snapshot expiry, orphan files) and wait",
  'icetide maintain shop.orders',
).action(async (table: string) => {
  const p = await project();
  const [{ findTable }, { maintainScheduleId, TABLE_SEARCH_ATTRIBUTE, tableName }, { withClient }] = await Promise.all([
    import('../config/project'),
    import('../shared'),
    import('./context'),
  ]);
  const def = findTable(p, table);
  const result: MaintainResult = await withClient(p, (client) =>
    client.workflow.execute('maintainTable', {
      taskQueue: p.runtime.ICETIDE_TASK_QUEUE,
      workflowId: `${maintainScheduleId(def)}:now`,
      args: [{ version: 1, table: def }],
      typedSearchAttributes: [{ key: TABLE_SEARCH_ATTRIBUTE, value: tableName(def) }],
      staticSummary: `maintenance of ${tableName(def)} (icetide maintain)`,
    }),
  );
  const { before, after } = result.compaction;
  console.log(
    `${result.table}: data files ${before.dataFiles} → ${after.dataFiles}, delete files ${before.deleteFiles} → ${after.deleteFiles}, ` +
      `snapshots ${result.expiry.before.snapshots} → ${result.expiry.after.snapshots}` +
      (result.purge ? `, ${result.purge.tombstones} tombstone(s) older than ${result.purge.horizon} purged` : ''),
  );
  for (const warning of result.warnings) console.log(`  warning: ${warning}`);
});

command(
  'replay <table>',
  'move archived change files back into staging, to be merged again (the version guard makes a repeat harmless)',
  'icetide replay shop.orders --from s3://archive/shop/orders/2026/11/',
)
  .requiredOption('--from <prefix>', "an s3:// prefix of archived files (under the table's cleanup location, if it archives)")
  .action(async (table: string, options: { from: string }) => {
    const p = await project();
    const [{ findTable }, { createS3Client }, { StagingStore }, { tableName }] = await Promise.all([
      import('../config/project'),
      import('../deps'),
      import('../storage/staging'),
      import('../shared'),
    ]);
    const def = findTable(p, table);
    if (!/^s3:\/\/[^/]+\//.test(options.from))
      throw new CommanderError(EXIT_USAGE, 'icetide.usage', `--from: an s3://bucket/prefix, not ${options.from}`);
    if (options.from.startsWith(def.staging.location))
      throw new Error(`${options.from} is inside the staging location of ${tableName(def)}`);
    // Files keep their place relative to the archive root (where cleanup put them), so they land where they came from.
    const root = def.cleanup.mode === 'archive' && options.from.startsWith(def.cleanup.location) ? def.cleanup.location : options.from;
    const staging = new StagingStore(createS3Client(p.runtime));
    const files = await staging.list(options.from);
    await staging.move(
      files.map((f) => f.uri),
      root,
      def.staging.location,
    );
    console.log(`${tableName(def)}: moved ${files.length} file(s) from ${options.from} back into ${def.staging.location}`);
  });

command(
  'codec-server',
  "serve Temporal's codec endpoints (POST /encode, /decode) with the project's encryption keys, for the Temporal UI and CLI",
  'ICETIDE_CODEC_TOKEN=... icetide codec-server --port 8888 --ui-origin https://temporal.example.com',
)
  .option('--port <port>', 'the port to listen on', '8888')
  .option('--host <host>', 'the address to listen on', '127.0.0.1')
  .option('--ui-origin <origins...>', "origins of the Temporal UI allowed to call it (CORS); default: the project's temporal.ui")
  .addHelpText('after', 'With ICETIDE_CODEC_TOKEN set, every request must carry `Authorization: Bearer <that token>`.')
  .action(async (options: { port: string; host: string; uiOrigin?: string[] }) => {
    const p = await project();
    if (!p.runtime.encryption)
      throw new CommanderError(EXIT_USAGE, 'icetide.usage', `${p.file} has no encryption: there is nothing to encode or decode`);
    const port = Number(options.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535)
      throw new CommanderError(EXIT_USAGE, 'icetide.usage', `--port: a port number, not ${options.port}`);
    const [{ encryptionCodec }, { createCodecServer }] = await Promise.all([import('../codec/codec'), import('./codec-server')]);
    const origins = options.uiOrigin ?? [p.runtime.ICETIDE_TEMPORAL_UI];
    for (const origin of origins.filter((o) => !URL.canParse(o)))
      throw new CommanderError(EXIT_USAGE, 'icetide.usage', `--ui-origin: a URL such as https://temporal.example.com, not ${origin}`);
    const server = createCodecServer({
      codec: encryptionCodec(p.runtime.encryption),
      origins,
      token: process.env.ICETIDE_CODEC_TOKEN || undefined,
    });
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, options.host, resolve));
    const { port: bound } = server.address() as { port: number };
    console.log(
      `codec server on http://${options.host}:${bound} for ${origins.join(', ')}${process.env.ICETIDE_CODEC_TOKEN ? ' (bearer token required)' : ''}`,
    );
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => server.close());
  });

command(
  'iam-policy',
  'print the IAM policy (JSON) the worker and CLI need for this project: its S3 prefixes only, Athena, Glue, KMS',
  'icetide iam-policy --account 123456789012 > icetide-policy.json',
)
  .option('--account <id>', 'the AWS account of the Athena workgroup and Glue catalog (default: any, *)')
  .action(async (options: { account?: string }) => {
    if (options.account !== undefined && !/^\d{12}$/.test(options.account))
      throw new CommanderError(EXIT_USAGE, 'icetide.usage', `--account: a 12-digit AWS account id, not ${options.account}`);
    const p = await project();
    const { iamPolicy } = await import('./iam-policy');
    console.log(JSON.stringify(iamPolicy(p, { account: options.account }), null, 2));
  });

const models = program.command('models').description('downstream models: SELECTs materialised on the engine, audited by data tests');
models
  .command('run')
  .description('build the models (or those --select picks) as a DAG, parents first, and report each one')
  .option('-s, --select <models...>', 'model, model+ (with what depends on it) or +model (with what it needs)')
  .option('--no-wait', 'print the run and its Temporal UI link, and return')
  .addHelpText('after', '\nExample:\n  $ icetide models run --select analytics.daily_revenue+')
  .action(async (options: { select?: string[]; wait: boolean }) => {
    const p = await project();
    const [{ runLink, withClient }, { describeModelReport, startModels, summarizeModels }] = await Promise.all([
      import('./context'),
      import('./models'),
    ]);
    const result = await withClient(p, async (client) => {
      const { handle, models: selected } = await startModels(client, p, options.select ?? []);
      console.log(`${selected.length} model(s): ${handle.workflowId}  ${runLink(p, handle.workflowId)}`);
      return options.wait ? (handle.result() as Promise<RunModelsResult>) : undefined;
    });
    if (!result) return;
    for (const report of result.models) console.log(describeModelReport(report));
    console.log(summarizeModels(result));
    if (result.failed) process.exitCode = EXIT_FAILED;
  });
models
  .command('list')
  .description('the models of the project (templates expanded), in the order they build, with what each waits for and reads')
  .action(async () => {
    const p = await project();
    const { describeModel } = await import('./models');
    for (const model of p.models) console.log(describeModel(model, p));
  });

program.parseAsync().catch(async (err: unknown) => {
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : EXIT_USAGE);
  const { ProjectError, UnknownTableError } = await import('../config/project');
  if (err instanceof ProjectError || err instanceof UnknownTableError) {
    console.error(`icetide: ${err.message}`);
    process.exit(EXIT_USAGE);
  }
  console.error(`icetide: ${((err as Error).message ?? String(err)).split('\n')[0]}`);
  process.exit(EXIT_FAILED);
});
