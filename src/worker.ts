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
  };
}

/** Builds a worker for icetide's task queue; tests and crash fixtures pass their own deps. */
export async function createWorker(config: RuntimeConfig, deps: ActivityDeps = createActivityDeps(config)): Promise<Worker> {
  const connection = await NativeConnection.connect({ address: config.ICETIDE_TEMPORAL_ADDRESS });
  return Worker.create(workerOptions(config, deps, connection));
}

if (require.main === module) {
  const config = loadRuntimeConfig();
  createWorker(config)
    .then((worker) => {
      console.log(
        `icetide worker on task queue ${config.ICETIDE_TASK_QUEUE} at ${config.ICETIDE_TEMPORAL_ADDRESS} (${config.ICETIDE_ENGINE})`,
      );
      return worker.run();
    })
    .catch((err) => {
      console.error(err);
      process.exit(1);
    });
}
