import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from './activities';
import { loadRuntimeConfig, type RuntimeConfig } from './config/runtime';
import { createActivityDeps } from './deps';

export function workerOptions(config: RuntimeConfig, deps: ActivityDeps, connection: NativeConnection): WorkerOptions {
  return {
    connection,
    namespace: config.ICETIDE_TEMPORAL_NAMESPACE,
    taskQueue: config.ICETIDE_TASK_QUEUE,
    workflowsPath: require.resolve('./workflows'),
    activities: createActivities(deps),
    // Heartbeats carry no history; sending them often lets a cancelled run stop its query within a second or two.
    maxHeartbeatThrottleInterval: '1s',
    // On SIGTERM/SIGINT short activities get this long to finish; a wait on a query then hands over to another
    // worker through its last heartbeat (the query itself keeps running).
    shutdownGraceTime: '5s',
  };
}

/** Builds a worker for icetide's task queue; tests and crash fixtures pass their own deps. */
export async function createWorker(config: RuntimeConfig, deps: ActivityDeps = createActivityDeps(config)): Promise<Worker> {
  const connection = await NativeConnection.connect({ address: config.ICETIDE_TEMPORAL_ADDRESS });
  return Worker.create(workerOptions(config, deps, connection));
}

/**
 * Runs a worker until SIGINT/SIGTERM (the Temporal runtime turns them into a graceful shutdown), then closes its
 * connection so the process exits by itself.
 */
export async function runWorker(config: RuntimeConfig, deps: ActivityDeps = createActivityDeps(config)): Promise<void> {
  const connection = await NativeConnection.connect({ address: config.ICETIDE_TEMPORAL_ADDRESS });
  try {
    const worker = await Worker.create(workerOptions(config, deps, connection));
    console.log(
      `icetide worker on task queue ${config.ICETIDE_TASK_QUEUE} at ${config.ICETIDE_TEMPORAL_ADDRESS} (${config.ICETIDE_ENGINE})`,
    );
    await worker.run();
  } finally {
    await connection.close();
  }
}

if (require.main === module) {
  runWorker(loadRuntimeConfig()).catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
