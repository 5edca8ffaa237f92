import { openHarness, startWorker, uniqueName, type Harness } from '../local/harness/harness';

/** Runs a benchmark's main; a failure prints its error and exits 1. */
export function runBench(main: () => Promise<void>): void {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}

/** Runs a benchmark on the local stack with one worker on a fresh task queue; both closed however it ends. */
export function runBenchWithWorker(queuePrefix: string, body: (h: Harness, taskQueue: string) => Promise<void>): void {
  runBench(async () => {
    const h = await openHarness();
    const taskQueue = uniqueName(queuePrefix);
    const worker = await startWorker(h, taskQueue);
    try {
      await body(h, taskQueue);
    } finally {
      await worker.stop();
      await h.close();
    }
  });
}
