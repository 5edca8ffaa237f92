import { NativeConnection, Worker } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from './activities';
import { loadRuntimeConfig, type RuntimeConfig } from './config/runtime';
import { createActivityDeps } from './deps';

/** Builds a worker for icetide's task queue; tests and crash fixtures pass their own deps. */
export async function createWorker(config: RuntimeConfig, deps: ActivityDeps = createActivityDeps(config)): Promise<Worker> {
  const connection = await NativeConnection.connect({ address: config.ICETIDE_TEMPORAL_ADDRESS });
  return Worker.create({
    connection,
    namespace: config.ICETIDE_TEMPORAL_NAMESPACE,
    taskQueue: config.ICETIDE_TASK_QUEUE,
    workflowsPath: require.resolve('./workflows'),
    activities: createActivities(deps),
  });
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
