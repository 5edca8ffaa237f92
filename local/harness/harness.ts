import { ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Client, Connection } from '@temporalio/client';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { workerOptions } from '../../src/worker';
import { createActivities, type ActivityDeps } from '../../src/activities';
import { renderChangeFile, type ChangeEvent } from '../../src/changes/producers';
import { loadRuntimeConfig, type RuntimeConfig } from '../../src/config/runtime';
import { parseTableDefinition, type TableDefinition, type TableDefinitionInput } from '../../src/config/schema';
import { createActivityDeps, createS3Client } from '../../src/deps';
import { TrinoEngine } from '../../src/engines/trino';
import { parseS3Uri } from '../../src/storage/staging';
import { ensureBucket, exportStackEnv } from './stack';

export const STAGING_BUCKET = 'icetide-staging';

/** Everything a test or a benchmark needs to drive the real local stack. */
export interface Harness {
  config: RuntimeConfig;
  s3: S3Client;
  trino: TrinoEngine;
  deps: ActivityDeps;
  client: Client;
  close(): Promise<void>;
}

let runtimeInstalled = false;

/**
 * The process's Temporal runtime for tests and benchmarks, with a metrics exporter as a worker in production has one
 * (a metric value the exporter refuses, such as a negative gauge, throws only then). Once per process.
 */
export function installTestRuntime(): void {
  if (runtimeInstalled) return;
  Runtime.install({
    logger: new DefaultLogger('WARN'),
    telemetryOptions: { metrics: { prometheus: { bindAddress: '127.0.0.1:0' } } },
  });
  runtimeInstalled = true;
}

export async function openHarness(): Promise<Harness> {
  exportStackEnv();
  installTestRuntime();
  const config = loadRuntimeConfig();
  const s3 = createS3Client(config);
  await ensureBucket(s3, STAGING_BUCKET);
  const connection = await Connection.connect(config.temporal.connectionOptions);
  return {
    config,
    s3,
    trino: new TrinoEngine({ url: config.ICETIDE_TRINO_URL, user: 'icetide-test' }),
    deps: createActivityDeps(config),
    client: new Client({ connection, namespace: config.temporal.namespace }),
    close: () => connection.close(),
  };
}

let counter = 0;
/** A fresh database per test so tests never see each other's tables or files. */
export const uniqueName = (prefix: string): string => `${prefix}_${Date.now().toString(36)}_${(counter++).toString(36)}`;

export function tableFor(database: string, overrides: Partial<TableDefinitionInput> = {}): TableDefinition {
  return parseTableDefinition({
    database,
    table: 'orders',
    staging: { location: `s3://${STAGING_BUCKET}/${database}/public/orders/` },
    columns: [
      { name: 'tenant', type: 'string' },
      { name: 'id', type: 'bigint' },
      { name: 'seq', type: 'bigint' },
      { name: 'name', type: 'string' },
      { name: 'amount', type: 'decimal(10,2)' },
    ],
    primaryKey: ['tenant', 'id'],
    ordering: { commitTimestamp: 'commit_ts', sequence: 'seq' },
    partitioning: ['bucket(id, 4)'],
    schedule: { every: '1h', lag: '0s' },
    ...overrides,
  });
}

/** Creates the table or brings it to its definition, as the `ensureTable` activity does (inside an activity context). */
export function createTable(h: Harness, def: TableDefinition): Promise<{ schemaChanges: string[] }> {
  return new MockActivityEnvironment().run(createActivities(h.deps).ensureTable, def);
}

/** Writes a change file (events in the table's format, or raw content) under staging; returns its s3:// URI. */
export async function putChangeFile(
  h: Harness,
  def: TableDefinition,
  name: string,
  events: ChangeEvent[] | string | Buffer,
): Promise<string> {
  const { bucket, key } = parseS3Uri(def.staging.location + name);
  const body = Array.isArray(events) ? renderChangeFile(def, events) : events;
  await h.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
  return `s3://${bucket}/${key}`;
}

export async function listUris(h: Harness, location: string): Promise<string[]> {
  const { bucket, key } = parseS3Uri(location);
  const page = await h.s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: key }));
  return (page.Contents ?? []).map((o) => `s3://${bucket}/${o.Key}`).sort();
}

/** The live rows as the `_current` view shows them, in a stable order and plain JS values. */
export async function currentRows(h: Harness, def: TableDefinition): Promise<Record<string, unknown>[]> {
  return h.trino.query(`SELECT * FROM iceberg."${def.database}"."${def.table}_current" ORDER BY ${def.primaryKey.join(', ')}`);
}

export async function startWorker(h: Harness, taskQueue: string, deps: ActivityDeps = h.deps): Promise<{ stop(): Promise<void> }> {
  const connection = await NativeConnection.connect(h.config.temporal.connectionOptions);
  const worker = await Worker.create(workerOptions({ ...h.config, ICETIDE_TASK_QUEUE: taskQueue }, deps, connection));
  const running = worker.run();
  return {
    async stop() {
      worker.shutdown();
      await running;
      await connection.close();
    },
  };
}
