import type { RuntimeConfig } from './runtime';

/** What a worker sized for an unknown number of tables (no project file) takes on. */
const TABLES_WHEN_UNKNOWN = 100;

/**
 * How much one worker takes on at once, from the number of tables it serves (ICETIDE_WORKER_TABLES: the project's
 * tables unless set, e.g. a share of them when several workers serve one project); each figure can be set instead.
 * The figures behind the rules are in the README ("Sizing workers"), measured with bench:tables.
 */
export interface WorkerSizing {
  tables: number;
  /**
   * Runs kept in memory between their workflow tasks. A table has at most one batch and one maintenance run at a time;
   * a run that is not cached replays its history at its next task (CPU, not correctness).
   */
  cachedWorkflows: number;
  /**
   * Activities (a batch's planning, its MERGE, its cleanup; maintenance statements) running at once, and as many local
   * ones (a permit asked for or given back). More wait on the task queue for a free slot.
   */
  activitySlots: number;
  /** Workflow tasks in progress at once: they run on one thread, so more only queue in memory. */
  workflowTaskSlots: number;
}

type SizingSettings = Pick<
  RuntimeConfig,
  'ICETIDE_WORKER_TABLES' | 'ICETIDE_WORKER_CACHED_WORKFLOWS' | 'ICETIDE_WORKER_ACTIVITY_SLOTS' | 'ICETIDE_WORKER_WORKFLOW_TASK_SLOTS'
>;

const clamp = (n: number, low: number, high: number): number => Math.min(high, Math.max(low, Math.ceil(n)));

export function workerSizing(settings: SizingSettings): WorkerSizing {
  const tables = settings.ICETIDE_WORKER_TABLES ?? TABLES_WHEN_UNKNOWN;
  const cachedWorkflows = settings.ICETIDE_WORKER_CACHED_WORKFLOWS ?? clamp(tables / 2 + 10, 20, 1000);
  return {
    tables,
    cachedWorkflows,
    activitySlots: settings.ICETIDE_WORKER_ACTIVITY_SLOTS ?? clamp(tables / 8, 8, 100),
    // The SDK wants at most as many as cached runs.
    workflowTaskSlots: Math.min(cachedWorkflows, settings.ICETIDE_WORKER_WORKFLOW_TASK_SLOTS ?? 10),
  };
}
