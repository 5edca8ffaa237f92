import { DefaultLogger, NativeConnection, Runtime, Worker, type LogEntry, type WorkerOptions } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from './activities';
import { projectDataConverter } from './codec/converter';
import { redactActivityErrors } from './activities/redaction';
import type { RuntimeConfig } from './config/runtime';
import { withoutUserInfo } from './config/urls';
import { workerSizing } from './config/worker-sizing';
import { createActivityDeps } from './deps';
import { createTracing } from './tracing';
import { prebuiltWorkflowBundle, workflowBundleKind } from './workflow-bundle';

export function workerOptions(config: RuntimeConfig, deps: ActivityDeps, connection: NativeConnection): WorkerOptions {
  const sizing = workerSizing(config);
  return {
    connection,
    namespace: config.temporal.namespace,
    taskQueue: config.ICETIDE_TASK_QUEUE,
    workflowBundle: prebuiltWorkflowBundle(workflowBundleKind({ tracing: false, encrypted: !!config.encryption })),
    // With `encryption`, every payload and failure message this worker writes is ciphertext in history.
    dataConverter: projectDataConverter(config.encryption),
    activities: createActivities(deps),
    // Failures enter history summarised: never a value an engine or a parser quoted.
    interceptors: { activity: [redactActivityErrors] },
    // Heartbeats carry no history; sending them often lets a cancelled run stop its query within a second or two.
    maxHeartbeatThrottleInterval: '1s',
    // Sized from the tables the worker serves rather than the SDK's defaults (sized from the heap: 2,000+ runs cached, 100
    // activities and 40 workflow tasks at once), which let memory grow far past what a worker of icetide needs.
    maxCachedWorkflows: sizing.cachedWorkflows,
    maxConcurrentActivityTaskExecutions: sizing.activitySlots,
    maxConcurrentLocalActivityExecutions: sizing.activitySlots,
    maxConcurrentWorkflowTaskExecutions: sizing.workflowTaskSlots,
    // On SIGTERM/SIGINT short activities get this long to finish; a wait on a query then hands over to another
    // worker through its last heartbeat (the query itself keeps running).
    shutdownGraceTime: '5s',
  };
}

/** Builds a worker for icetide's task queue; tests and crash fixtures pass their own deps. */
export async function createWorker(config: RuntimeConfig, deps: ActivityDeps = createActivityDeps(config)): Promise<Worker> {
  const connection = await NativeConnection.connect(config.temporal.connectionOptions);
  return Worker.create(workerOptions(config, deps, connection));
}

/** One JSON object per line (time, level, message and the SDK's attributes: workflow and activity ids, ...). */
const jsonLine = ({ level, message, timestampNanos, meta }: LogEntry): void =>
  console.log(JSON.stringify({ time: new Date(Number(timestampNanos / 1_000_000n)).toISOString(), level, message, ...meta }));

/**
 * The process-wide Temporal runtime of a worker process: structured JSON logs, and when a metrics port is configured
 * a Prometheus endpoint serving Temporal's worker metrics and icetide's per-table series. Once per process.
 */
export function installWorkerRuntime(config: RuntimeConfig): void {
  Runtime.install({
    logger: new DefaultLogger(config.ICETIDE_LOG_LEVEL, jsonLine),
    telemetryOptions:
      config.ICETIDE_METRICS_PORT === undefined
        ? undefined
        : {
            metrics: {
              prometheus: { bindAddress: `${config.ICETIDE_METRICS_HOST}:${config.ICETIDE_METRICS_PORT}`, useSecondsForDurations: true },
            },
          },
  });
}

/**
 * Runs a worker until SIGINT/SIGTERM (the Temporal runtime turns them into a graceful shutdown: activities in flight
 * drain, a wait on a query hands over), then closes its connection so the process exits by itself.
 */
export async function runWorker(config: RuntimeConfig, deps: ActivityDeps = createActivityDeps(config)): Promise<void> {
  const connection = await NativeConnection.connect(config.temporal.connectionOptions);
  const tracing = createTracing(config);
  try {
    const worker = await Worker.create({ ...workerOptions(config, deps, connection), plugins: tracing?.plugins });
    const metrics =
      (config.ICETIDE_METRICS_PORT === undefined ? '' : `, metrics on :${config.ICETIDE_METRICS_PORT}/metrics`) +
      (tracing ? `, traces to ${withoutUserInfo(config.OTEL_EXPORTER_OTLP_ENDPOINT ?? '')}` : '') +
      (config.encryption ? `, payloads encrypted with key ${config.encryption.keys[0].id}` : '');
    const { tables, cachedWorkflows, activitySlots } = workerSizing(config);
    Runtime.instance().logger.info(
      `icetide worker on task queue ${config.ICETIDE_TASK_QUEUE} at ${config.temporal.connectionOptions.address} ` +
        `(namespace ${config.temporal.namespace}, engine ${config.ICETIDE_ENGINE}${metrics}; sized for ${tables} tables: ` +
        `${cachedWorkflows} cached runs, ${activitySlots} activity slots)`,
    );
    await worker.run();
  } finally {
    await tracing?.shutdown();
    await connection.close();
  }
}
