/** What every activity does its I/O through: the adapters createActivities(deps) is given. */
import type { QueryEngine } from '../engines/engine';
import type { Dialect } from '../sql/dialect';
import type { StagingStore } from '../storage/staging';

/** The named points a crash or fault test can act at (kill the worker, stop a service) to prove recovery there. */
export type Failpoint =
  | 'plan-read'
  | 'before-submit'
  | 'await-query'
  | 'before-cleanup'
  | 'cleanup-chunk'
  | 'submitted-compaction'
  | 'submitted-expiry'
  | 'submit-chunk';

export interface ActivityDeps {
  engine: QueryEngine;
  dialect: Dialect;
  staging: StagingStore;
  /** Trino: where schemas put their tables (s3://bucket/prefix). */
  warehouse?: string;
  /** Poll back-off: starts at initialMs, grows ×1.5 to maxMs. */
  poll?: { initialMs: number; maxMs: number };
  /** The shortest snapshot or orphan retention maintenance accepts (ICETIDE_MIN_RETENTION); default one day. */
  minRetentionMs?: number;
  /**
   * The engine's query quota: how many queries the workers of a task queue together run on `engine` at once.
   * Unset: no limit.
   */
  quota?: { engine: string; limit: number; sweepEveryMs?: number; askAgainEveryMs?: number; maxWaitMs?: number };
  /** Files deleted per cleanup step. */
  cleanupChunk?: number;
  /** Test hook: called at named points so a crash or fault test can act exactly there. */
  failpoint?: (name: Failpoint) => void;
}
