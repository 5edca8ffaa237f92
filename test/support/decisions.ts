import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { exportStackEnv } from '../../local/harness/stack';
import { installTestRuntime, uniqueName } from '../../local/harness/harness';

/** Mocha hooks: a test environment on the local stack's dev server (Schedules and search attributes work there). */
export function useWorkflowEnvironment(): { env: TestWorkflowEnvironment } {
  const context = {} as { env: TestWorkflowEnvironment };
  before(async () => {
    exportStackEnv();
    installTestRuntime();
    context.env = await TestWorkflowEnvironment.createFromExistingServer({ address: process.env.TEMPORAL_ADDRESS });
  });
  after(async () => context.env?.teardown());
  return context;
}

/**
 * Runs one workflow of icetide's against scripted activities on a worker of its own; returns its result or its
 * failure. `whileRunning` looks at the run before its result is awaited.
 */
export async function runWithFakes<R>(
  env: TestWorkflowEnvironment,
  workflowType: string,
  input: unknown,
  activities: object,
  whileRunning?: (workflowId: string) => Promise<void>,
): Promise<{ result?: R; error?: unknown }> {
  const taskQueue = uniqueName('wf_tq');
  const workflowId = uniqueName('wf');
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowsPath: require.resolve('../../src/workflows'),
    // No engine quota unless a test brings one.
    activities: { requestQueryPermit: async () => null, ...activities },
  });
  return worker.runUntil(
    env.client.workflow
      .start(workflowType, { taskQueue, workflowId, args: [input] })
      .then(async (handle) => {
        await whileRunning?.(workflowId);
        return (await handle.result()) as R;
      })
      .then(
        (result): { result?: R; error?: unknown } => ({ result }),
        (error: unknown): { result?: R; error?: unknown } => ({ error }),
      ),
  );
}
