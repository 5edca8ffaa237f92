import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import type { Failpoint } from '../../src/activities';
import type { TableDefinition } from '../../src/config/schema';
import type { IngestInput, IngestResult, Watermark } from '../../src/shared';
import { openHarness, startWorker, uniqueName, type Harness } from '../../local/harness/harness';
import { repoRoot } from '../../local/harness/stack';

/**
 * A time limit of the e2e suite, stretched in slow mode (ICETIDE_SLOW_ENGINE: `npm run test:slow`), where a read
 * takes tens of seconds and every statement several.
 */
export const atPace = (ms: number): number => (process.env.ICETIDE_SLOW_ENGINE ? ms * 8 : ms);

/**
 * Mocha hooks for a suite that needs the stack and an in-process worker on its own task queue. The returned object
 * is filled in `before`; read it inside tests.
 */
export function useStackWithWorker(queuePrefix: string): { h: Harness; taskQueue: string } {
  const context = { taskQueue: uniqueName(queuePrefix) } as { h: Harness; taskQueue: string; worker?: { stop(): Promise<void> } };
  before(async () => {
    context.h = await openHarness();
    context.worker = await startWorker(context.h, context.taskQueue);
  });
  after(async () => {
    await context.worker?.stop();
    await context.h?.close();
  });
  return context;
}

/** Runs a command to its end: its exit code and output, never a throw on a non-zero exit (what a CLI user sees). */
export async function runCommand(
  file: string,
  args: string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv },
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(file, args, { cwd: options.cwd, env: options.env ?? process.env });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** One ingest batch of `def` on the suite's worker, to its result (a failure rejects with WorkflowFailedError). */
export function ingestOnce(stack: { h: Harness; taskQueue: string }, def: TableDefinition, watermark?: Watermark): Promise<IngestResult> {
  return stack.h.client.workflow.execute('ingestBatch', {
    taskQueue: stack.taskQueue,
    workflowId: uniqueName(`ingest-${def.database}`),
    args: [{ version: 1, table: def, watermark } satisfies IngestInput],
  });
}

/** A worker in its own process that sends itself `signal` when the activities first reach `failpoint`. */
export function spawnCrashingWorker(taskQueue: string, failpoint: Failpoint, signal: NodeJS.Signals = 'SIGKILL', passes = 0): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'test/fixtures/crash-worker.ts')], {
    cwd: repoRoot,
    env: {
      ...process.env,
      ICETIDE_TASK_QUEUE: taskQueue,
      ICETIDE_FAILPOINT: failpoint,
      ICETIDE_FAILPOINT_SIGNAL: signal,
      ICETIDE_FAILPOINT_AFTER: String(passes),
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
}

export const exited = (child: ChildProcess): Promise<NodeJS.Signals | number | null> =>
  new Promise((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code)));
