import { randomUUID } from 'node:crypto';
import { ApplicationFailure, Context, CancelledFailure } from '@temporalio/activity';
import { checkChangeFile, widenKeyRange, type KeyRange } from '../changes/validate';
import { selectBatch, type FilePosition } from '../changes/select';
import type { TableDefinition } from '../config/schema';
import { isTerminal, TransientEngineError, type QueryEngine, type QueryHandle } from '../engines/engine';
import type { Dialect } from '../sql/dialect';
import { renderTableDdl } from '../sql/ddl';
import { renderMerge } from '../sql/merge';
import type { StagingStore } from '../storage/staging';
import { tableName, type BatchPlan, type QuarantinedFile, type QueryOutcome } from '../shared';

export interface ActivityDeps {
  engine: QueryEngine;
  dialect: Dialect;
  staging: StagingStore;
  /** Trino: where schemas put their tables (s3://bucket/prefix). */
  warehouse?: string;
  /** Poll back-off: starts at initialMs, grows ×1.5 to maxMs. */
  poll?: { initialMs: number; maxMs: number };
  /** Files deleted per cleanup step. */
  cleanupChunk?: number;
  /** Test hook: called at named points so a crash test can kill the worker exactly there. */
  failpoint?: (name: 'await-query' | 'before-cleanup' | 'cleanup-chunk') => void;
}

/** Athena rejects queries over 262,144 bytes; keep the file list well inside, leaving room for the MERGE itself. */
const MAX_FILE_LIST_BYTES = 200_000;

export const quarantineLocation = (def: TableDefinition): string => def.staging.location.replace(/\/$/, '__quarantine/');

export function createActivities(deps: ActivityDeps) {
  const { engine, dialect, staging } = deps;

  /**
   * Runs a short, idempotent statement (DDL) to its end. A fresh token each time: re-running DDL is harmless, while
   * reusing a token could hand back an old execution (Athena) and skip re-creating a table dropped since.
   */
  async function runToEnd(sql: string): Promise<void> {
    let handle = await engine.submit({ sql, idempotencyToken: `icetide-ddl-${randomUUID()}`, mayExist: false });
    for (;;) {
      const status = await engine.poll(handle);
      handle = status.handle;
      if (status.state === 'SUCCEEDED') return;
      if (isTerminal(status.state)) throw new Error(`query ${handle.queryId} ${status.state}: ${status.error?.message ?? ''}\n${sql}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  return {
    /** Creates the staging table, the Iceberg target and the current view when missing. Idempotent. */
    async ensureTable(def: TableDefinition): Promise<void> {
      const statements = renderTableDdl(def, dialect, { warehouse: deps.warehouse });
      for (const sql of statements) await runToEnd(sql);
    },

    /**
     * Picks the batch and reads every file in it first: a bad row fails the batch (naming file and line) or, in
     * quarantine mode, sends its whole file aside, before anything is merged.
     */
    async planBatch(input: { table: TableDefinition; cutoff: number; after?: FilePosition }): Promise<BatchPlan> {
      const def = input.table;
      const listing = await staging.list(def.staging.location);
      const selection = selectBatch(listing, {
        cutoff: input.cutoff,
        after: def.cleanup.mode === 'retain' ? input.after : undefined,
        maxFiles: def.batch.maxFiles,
        maxBytes: def.batch.maxBytes,
        maxListBytes: MAX_FILE_LIST_BYTES,
      });
      const plan: BatchPlan = {
        files: [],
        bytes: 0,
        rows: 0,
        emptyFiles: 0,
        deferredFiles: selection.deferred,
        ignoredFiles: selection.ignored.slice(0, 20),
        quarantined: [],
      };
      for (const file of selection.files) {
        Context.current().heartbeat();
        const check = checkChangeFile(def, file.uri, await staging.read(file.uri));
        if (check.problems.length > 0) {
          const detail = check.problems.map((p) => `line ${p.line}: ${p.problem}`).join('; ');
          if (def.badInput === 'fail') {
            throw ApplicationFailure.nonRetryable(
              `table ${tableName(def)}: change file ${file.uri} has bad rows, nothing was merged: ${detail}`,
              'BadChangeFile',
            );
          }
          const movedTo = quarantineLocation(def);
          await staging.move([file.uri], def.staging.location, movedTo);
          const [first] = check.problems;
          plan.quarantined.push({
            uri: file.uri,
            movedTo: movedTo + file.uri.slice(def.staging.location.length),
            line: first.line,
            problem: first.problem,
          } satisfies QuarantinedFile);
          continue;
        }
        plan.files.push(file.uri);
        plan.bytes += file.size;
        plan.rows += check.rows;
        if (check.rows === 0) plan.emptyFiles++;
        if (check.maxCommitTs && (!plan.maxCommitTs || check.maxCommitTs > plan.maxCommitTs)) plan.maxCommitTs = check.maxCommitTs;
        plan.keyRange = widenKeyRange(plan.keyRange, check.keyRange);
      }
      // Quarantined files count as passed: the retain mode's position moves over them too.
      const lastTaken = selection.files.at(-1);
      if (lastTaken) plan.last = { lastModified: lastTaken.lastModified, uri: lastTaken.uri };
      return plan;
    },

    /** Submits one statement (admin and maintenance work); the token makes a retried submit find the same query. */
    async startStatement(input: { sql: string; token: string }): Promise<QueryHandle> {
      return engine.submit({ sql: input.sql, idempotencyToken: input.token, mayExist: Context.current().info.attempt > 1 });
    },

    /** Submits the batch's MERGE. The token is the run's and the submission's, so a retried start finds the same query. */
    async startMerge(input: { table: TableDefinition; files: string[]; keyRange?: KeyRange; token: string }): Promise<QueryHandle> {
      const mayExist = Context.current().info.attempt > 1;
      const sql = renderMerge(input.table, dialect, input.files, input.keyRange);
      return engine.submit({ sql, idempotencyToken: input.token, mayExist });
    },

    /**
     * Follows a query to its end with backed-off polls. The latest handle rides in each heartbeat, so a retry on
     * another worker resumes where this one stopped; a heartbeat timeout notices a dead worker within seconds, and
     * the workflow's history holds one activity however long the query runs. Cancelling the activity cancels the query.
     */
    async awaitQuery(input: { table: string; handle: QueryHandle }): Promise<QueryOutcome> {
      const ctx = Context.current();
      let handle: QueryHandle = (ctx.info.heartbeatDetails as QueryHandle | undefined) ?? input.handle;
      const { initialMs, maxMs } = deps.poll ?? { initialMs: 100, maxMs: 2000 };
      let delay = initialMs;
      for (;;) {
        try {
          const status = await engine.poll(handle);
          handle = status.handle;
          if (status.state === 'SUCCEEDED' || status.state === 'FAILED' || status.state === 'CANCELLED') {
            return { handle, state: status.state, stats: status.stats, updatedRows: status.updatedRows, error: status.error };
          }
        } catch (err) {
          if (!(err instanceof TransientEngineError)) throw err;
          ctx.log.warn('transient engine error while polling; polling on', {
            table: input.table,
            queryId: handle.queryId,
            error: err.message,
          });
        }
        ctx.heartbeat(handle);
        deps.failpoint?.('await-query');
        try {
          await ctx.sleep(delay);
        } catch (err) {
          if (err instanceof CancelledFailure) await engine.cancel(handle);
          throw err;
        }
        delay = Math.min(maxMs, Math.ceil(delay * 1.5));
      }
    },

    /** Called only after the MERGE succeeded: delete (or archive) exactly the merged files. Safe to repeat. */
    async cleanupBatch(input: { table: TableDefinition; files: string[] }): Promise<void> {
      const def = input.table;
      if (def.cleanup.mode === 'retain') return;
      deps.failpoint?.('before-cleanup');
      const chunk = deps.cleanupChunk ?? 1000;
      for (let i = 0; i < input.files.length; i += chunk) {
        const files = input.files.slice(i, i + chunk);
        if (def.cleanup.mode === 'archive') await staging.move(files, def.staging.location, def.cleanup.location);
        else await staging.delete(files);
        Context.current().heartbeat(i);
        deps.failpoint?.('cleanup-chunk');
      }
    },
  };
}

export type Activities = ReturnType<typeof createActivities>;
