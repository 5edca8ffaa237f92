/**
 * What crosses the workflow/activity/client boundary: the task queue, ids, search attributes and the small,
 * versioned objects that workflows take and return. Never rows of data, never credentials.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import type { TableDefinition } from './config/schema';
import type { FilePosition, RecentFiles } from './changes/select';
import type { KeyRange } from './changes/validate';
import type { QueryHandle, QueryStats, TerminalState } from './engines/engine';

export const TASK_QUEUE = 'icetide';

export const modelName = (model: { database: string; name: string }): string => `${model.database}.${model.name}`;
/** One build per model at a time: every run (scheduled or by hand) builds a model under this id. */
export const modelBuildId = (model: { database: string; name: string }): string => `icetide:model:${modelName(model)}`;
export const tableName = (def: Pick<TableDefinition, 'database' | 'table'>): string => `${def.database}.${def.table}`;
export const ingestScheduleId = (def: Pick<TableDefinition, 'database' | 'table'>): string => `icetide:ingest:${tableName(def)}`;
export const maintainScheduleId = (def: Pick<TableDefinition, 'database' | 'table'>): string => `icetide:maintain:${tableName(def)}`;

/** Registered on the dev server at start (local/stack.sh) so runs can be filtered by table in the UI. */
export const TABLE_SEARCH_ATTRIBUTE = defineSearchAttributeKey('IcetideTable', SearchAttributeType.KEYWORD);
export const OUTCOME_SEARCH_ATTRIBUTE = defineSearchAttributeKey('IcetideOutcome', SearchAttributeType.KEYWORD);
/** IcetideOutcome values: `overdue` while a run is older than its deadline, then how it ended. */
export type RunOutcome = 'merged' | 'idle' | 'failed' | 'blocked' | 'overdue' | 'maintained' | 'built';

/** How far a table has been applied. Never moves backwards; a failed run leaves it where it was. */
export interface Watermark {
  version: 1;
  /** Newest commit time applied so far, `yyyy-MM-dd HH:mm:ss.ffffff`. */
  appliedThrough?: string;
  /** Retain mode: the last file taken, in arrival order; the next batch starts after it. */
  position?: FilePosition;
  /** Retain mode by arrival: the settle window behind the position, looked at again for files not taken yet. */
  recent?: RecentFiles;
}

/** A watermark's `appliedThrough` (UTC) as epoch milliseconds. */
export const watermarkMillis = (appliedThrough: string): number => Date.parse(`${appliedThrough.replace(' ', 'T').slice(0, 23)}Z`);

export interface IngestInput {
  version: 1;
  table: TableDefinition;
  /** Where to start; when absent, the previous scheduled run's result (workflowInfo().lastResult) is used. */
  watermark?: Watermark;
  /**
   * Tombstones of changes older than this (`yyyy-MM-dd HH:mm:ss.ffffff`) may have been purged: an older change could
   * resurrect a deleted row, so it is refused as bad input. Maintenance sets it in the ingest schedule's arguments.
   */
  purgedThrough?: string;
  /**
   * Set anew in the schedule's arguments by `icetide run` (a fresh id each time): a blocked table whose state holds
   * another request tries again at once.
   */
  retryRequest?: string;
}

/** The statements of a maintenance run, in the order they run. */
export type MaintenanceStep = 'properties' | 'purge' | 'compaction' | 'expiry' | 'orphans';

export interface MaintainInput {
  version: 1;
  table: TableDefinition;
}

/** The table's files as its Iceberg metadata lists them. */
export interface FileStats {
  dataFiles: number;
  deleteFiles: number;
  bytes: number;
  partitions: number;
  /** Partitions holding more than one data file, or any delete file: what compaction is for. */
  partitionsToCompact: number;
}

export interface SnapshotStats {
  snapshots: number;
  /** Older than the retention: what expiry should remove. */
  expirable: number;
}

export interface MaintainResult {
  version: 1;
  table: string;
  outcome: 'maintained';
  /** Tombstone mode only. */
  purge?: { horizon: string; tombstones: number; millis: number };
  /** scannedBytes: what the engine read to rewrite (Athena bills it). */
  compaction: { rounds: number; scannedBytes: number; before: FileStats; after: FileStats; millis: number };
  expiry: { rounds: number; before: SnapshotStats; after: SnapshotStats; filesDeleted: number; millis: number };
  /** Trino only: Athena's VACUUM removes orphan files together with the snapshots. */
  orphans?: { filesDeleted: number; millis: number };
  /** Things that did not go as they should without failing the run (e.g. a VACUUM that removed nothing). */
  warnings: string[];
}

/** What bringing a table to its definition takes: creating it, or these schema changes (none: up to date). */
export interface TableChanges {
  exists: boolean;
  statements: string[];
}

export interface QuarantinedFile {
  uri: string;
  movedTo: string;
  line: number;
  problem: string;
}

export interface BatchPlan {
  files: string[];
  bytes: number;
  rows: number;
  emptyFiles: number;
  maxCommitTs?: string;
  keyRange?: KeyRange;
  /** A folder format's batch (one DynamoDB export): the export's time, which its rows carry. */
  exportTime?: string;
  last?: FilePosition;
  /** Retain mode by arrival: the settle window once this batch is merged. */
  recent?: RecentFiles;
  deferredFiles: number;
  /** When the longest-waiting change file left for later landed (ms since epoch): how late the table is. */
  oldestDeferred?: number;
  ignoredFiles: string[];
  quarantined: QuarantinedFile[];
  /** What each of the engine's reads that checked the batch scanned (Athena bills each, at least 10 MB). */
  checkScannedBytes?: number[];
}

export interface QueryOutcome {
  handle: QueryHandle;
  state: TerminalState;
  stats?: QueryStats;
  updatedRows?: number;
  error?: { message: string; code?: string; retryable: boolean };
}

export interface IngestResult {
  version: 1;
  table: string;
  outcome: 'merged' | 'idle';
  watermark: Watermark;
  files: number;
  rows: number;
  queryId?: string;
  submissions?: number;
  /** MERGEs the batch took: more than one when its changes span more partitions than one statement may write. */
  statements?: number;
  stats?: QueryStats;
  /** What each read that checked the batch before its MERGE scanned. */
  checkScannedBytes?: number[];
  updatedRows?: number;
  ignoredFiles: number;
  quarantined: QuarantinedFile[];
  /** A change file had waited longer than alerts.freshness (alerted once, when the table became late). */
  late?: boolean;
  /** A snapshot export older than the newest one merged: not applied (it would revert newer state), cleaned up. */
  superseded?: string[];
}

/** The failure type of a run whose table is blocked; its details hold the BlockedState. */
export const TABLE_BLOCKED = 'TableBlocked';

/**
 * A table whose batch fails for a reason no retry changes. It rides in the failure of each run (TableBlocked), which
 * the schedule hands to the next run (workflowInfo().lastFailure): runs before nextAttemptAt fail at once, without
 * touching the engine, unless the definition changed.
 */
export interface BlockedState {
  version: 1;
  /** ISO time the table became blocked. */
  since: string;
  /** Runs that tried the batch and failed the same way. */
  attempts: number;
  /** ISO times of the last run that tried, and of the next that will. */
  lastAttemptAt: string;
  nextAttemptAt: string;
  /** The refusal, naming the step (and the file or query). */
  reason: string;
  /** The definition's fingerprint when it blocked: an applied fix is tried at once. */
  definition: string;
  /** The retry request (IngestInput.retryRequest) the blocking run saw: a newer one is tried at once. */
  retryRequest?: string;
}

/**
 * The engine's query quota (workflows/quota.ts): one long-lived workflow per engine hands out permits, so all of
 * icetide's workers together never run more than the configured number of queries at once.
 */
export const QUOTA_SIGNALS = {
  acquire: 'icetide.acquireQueryPermit',
  release: 'icetide.releaseQueryPermit',
  granted: 'icetide.queryPermitGranted',
  /** An update: the ask answered at once, granted in the reply when a permit is free and nobody waits for one. */
  ask: 'icetide.askQueryPermit',
} as const;

/** One run's request for a query permit; `request` is unique per request, so a retried ask is one ask. */
export interface PermitRequest {
  request: string;
  workflowId: string;
  runId: string;
  /** What the permit is for, e.g. `shop.orders MERGE`: shown in the quota workflow's details. */
  label: string;
}

/** A request as the quota receives it, with the asking worker's configured limit (the newest wins). */
export type PermitAsk = PermitRequest & { limit: number };

/** The quota's reply to an ask. */
export interface PermitAnswer {
  granted: boolean;
}

/** The quota a run asked (its workflow id), and how the run waits for its grant. */
export interface QuotaTicket {
  quotaId: string;
  /** A run not granted after this long asks again: a quota that vanished (terminated, reset) is started anew. */
  askAgainEveryMs: number;
  /** A run not granted after this long fails its step (the next tick, or the model's retry, asks again). */
  maxWaitMs: number;
  /** Granted in the quota's reply (no signal follows); asks recorded before the reply existed carry none. */
  granted?: boolean;
}

export interface QuotaState {
  version: 1;
  limit: number;
  /** How often permits held by runs that have since closed (terminated, timed out) are taken back. */
  sweepEveryMs: number;
  running: (PermitRequest & { since: number })[];
  waiting: (PermitRequest & { since: number })[];
}
