import { ApplicationFailure, Context } from '@temporalio/activity';
import { ScheduleNotFoundError, type ScheduleHandle } from '@temporalio/client';
import type { TableDefinition } from '../config/schema';
import { durationMillis } from '../config/duration';
import type { QueryHandle } from '../engines/engine';
import {
  renderCompaction,
  renderExpireSnapshots,
  renderExpirySample,
  renderFileStats,
  renderMaintenanceProperties,
  renderPurgeTombstones,
  renderRemoveOrphans,
  renderSnapshotStats,
  renderSnapshotsKept,
} from '../sql/maintenance';
import { ingestScheduleId, tableName, type FileStats, type IngestInput, type MaintenanceStep, type SnapshotStats } from '../shared';
import type { ActivityDeps } from './deps';
import { submitStatement, whileWaiting } from './query';

/** Expired snapshots whose files are checked after expiry: enough to tell "deletes" from "cannot delete". */
const EXPIRY_SAMPLE = 20;

/** Snapshots expiry should remove, each with its own manifest list. */
export type ExpirySample = { snapshot: string; manifestList: string }[];

/** A pause note that marks the ingest schedule as held by maintenance (any other note is a person's pause). */
const HOLD_NOTE = 'icetide maintenance holds ingestion';
/** Between held steps, a scheduled batch due within this long is let through first. */
const LONGEST_LET_THROUGH_WAIT_MS = 2 * 60_000;
/** A batch still running after this long is not waited for: its MERGE and the maintenance step retry a conflict. */
const LONGEST_HOLD_WAIT_MS = 30 * 60_000;

/**
 * Maintenance I/O: holding and releasing ingestion through the table's ingest Schedule, reading the table's
 * metadata, and the safety checks made before anything runs.
 */
export function createMaintainActivities(deps: ActivityDeps) {
  const { engine, dialect, staging } = deps;
  const ingestSchedule = (def: TableDefinition): ScheduleHandle => Context.current().client.schedule.getHandle(ingestScheduleId(def));

  return {
    /**
     * Renders a maintenance step for this worker's engine and submits it; undefined when the engine has no such
     * step (Athena sets no properties on Trino; its VACUUM already removed the orphans).
     */
    async startMaintenanceStep(input: {
      table: TableDefinition;
      step: MaintenanceStep;
      token: string;
      horizon?: string;
    }): Promise<QueryHandle | undefined> {
      const def = input.table;
      const sql = {
        properties: () => renderMaintenanceProperties(def, dialect),
        purge: () => renderPurgeTombstones(def, dialect, input.horizon ?? ''),
        compaction: () => renderCompaction(def, dialect),
        expiry: () => renderExpireSnapshots(def, dialect),
        orphans: () => renderRemoveOrphans(def, dialect),
      }[input.step]();
      if (!sql) return undefined;
      const handle = await submitStatement(deps, `table ${tableName(def)}: submitting ${input.step}`, sql, input.token);
      if (input.step === 'compaction' || input.step === 'expiry') deps.failpoint?.(`submitted-${input.step}`);
      return handle;
    },

    /** Refuses retentions below the deployment's floor (ICETIDE_MIN_RETENTION), naming table and setting. */
    async checkRetention(def: TableDefinition): Promise<void> {
      const floorMs = deps.minRetentionMs ?? 86_400_000;
      for (const setting of ['snapshots', 'orphans'] as const) {
        const value = def.maintenance.retain[setting];
        if (durationMillis(value) < floorMs) {
          throw ApplicationFailure.nonRetryable(
            `table ${tableName(def)}: maintenance.retain.${setting} is ${value}, below this deployment's floor ` +
              `ICETIDE_MIN_RETENTION (${floorMs / 1000} s): a reader or a write in flight could lose files; nothing was run`,
            'UnsafeRetention',
          );
        }
      }
    },

    /**
     * Pauses the table's ingest schedule (and records `purgedThrough` in its arguments, never moving it back), then
     * waits for a batch in flight to end, so a maintenance commit never races icetide's own MERGE. Without an ingest
     * schedule there is nothing to hold. A schedule a person paused stays theirs: it is not resumed at release.
     */
    async holdIngest(input: { table: TableDefinition; purgedThrough?: string; releasedAt?: number }): Promise<void> {
      const ctx = Context.current();
      const schedule = ingestSchedule(input.table);
      try {
        if (input.releasedAt !== undefined) await letOneBatchThrough(schedule, input.releasedAt);
        const horizon = input.purgedThrough;
        if (horizon) {
          await schedule.update((previous) => {
            if (previous.action.type !== 'startWorkflow') return previous;
            const [args] = previous.action.args as [IngestInput];
            const purgedThrough = args.purgedThrough && args.purgedThrough > horizon ? args.purgedThrough : horizon;
            return { ...previous, action: { ...previous.action, args: [{ ...args, purgedThrough }] } };
          });
        }
        const { state } = await schedule.describe();
        if (!state.paused) await schedule.pause(HOLD_NOTE);
        for (const since = Date.now(); Date.now() - since < LONGEST_HOLD_WAIT_MS;) {
          if ((await schedule.describe()).info.runningActions.length === 0) return;
          ctx.heartbeat();
          await ctx.sleep(1000);
        }
      } catch (err) {
        if (!(err instanceof ScheduleNotFoundError)) throw err;
      }
    },

    /**
     * Resumes ingestion held by maintenance (also a hold left by a run that was terminated). The next tick picks up
     * what landed meanwhile; no extra trigger: one right after an unpause stalled the dev server's scheduler (CLI 1.5.1).
     */
    async releaseIngest(def: TableDefinition): Promise<number> {
      const schedule = ingestSchedule(def);
      try {
        const { state } = await schedule.describe();
        if (state.paused && state.note === HOLD_NOTE) await schedule.unpause('icetide maintenance step done');
      } catch (err) {
        if (!(err instanceof ScheduleNotFoundError)) throw err;
      }
      return Date.now();
    },

    async fileStats(def: TableDefinition): Promise<FileStats> {
      const what = `table ${tableName(def)}: reading $files`;
      const { rows } = await whileWaiting(what, (signal) => engine.read(renderFileStats(def, dialect), signal));
      const partitions = new Map<string, { data: number; deletes: number }>();
      const stats: FileStats = { dataFiles: 0, deleteFiles: 0, bytes: 0, partitions: 0, partitionsToCompact: 0 };
      for (const row of rows) {
        const files = Number(row.files);
        const part = partitions.get(String(row.part)) ?? { data: 0, deletes: 0 };
        if (Number(row.content) === 0) part.data += files;
        else part.deletes += files;
        partitions.set(String(row.part), part);
        stats.bytes += Number(row.bytes);
      }
      for (const part of partitions.values()) {
        stats.dataFiles += part.data;
        stats.deleteFiles += part.deletes;
        if (part.data > 1 || part.deletes > 0) stats.partitionsToCompact++;
      }
      stats.partitions = partitions.size;
      return stats;
    },

    async snapshotStats(def: TableDefinition): Promise<SnapshotStats> {
      const what = `table ${tableName(def)}: reading $snapshots`;
      const { rows } = await whileWaiting(what, (signal) => engine.read(renderSnapshotStats(def, dialect), signal));
      const [row] = rows;
      return { snapshots: Number(row?.snapshots ?? 0), expirable: Number(row?.expirable ?? 0) };
    },

    /** The oldest snapshots expiry should remove (at most EXPIRY_SAMPLE), each with its manifest list. */
    async expirySample(def: TableDefinition): Promise<ExpirySample> {
      const what = `table ${tableName(def)}: reading $snapshots`;
      const { rows } = await whileWaiting(what, (signal) => engine.read(renderExpirySample(def, dialect, EXPIRY_SAMPLE), signal));
      return rows.map((row) => ({ snapshot: String(row.snapshot), manifestList: String(row.manifest_list) }));
    },

    /**
     * Of the sampled snapshots, those expiry removed, and how many of their manifest lists are still there. Only these
     * files tell whether expiry deletes: a count of the table's objects also sees the files a batch added meanwhile.
     */
    async expiredFilesLeft(input: { table: TableDefinition; sample: ExpirySample }): Promise<{ expired: number; left: number }> {
      const def = input.table;
      if (!input.sample.length) return { expired: 0, left: 0 };
      return whileWaiting(`table ${tableName(def)}: checking the files of expired snapshots`, async (signal) => {
        const sql = renderSnapshotsKept(
          def,
          dialect,
          input.sample.map((s) => s.snapshot),
        );
        const { rows } = await engine.read(sql, signal);
        const kept = new Set(rows.map((row) => String(row.snapshot)));
        const expired = input.sample.filter((s) => !kept.has(s.snapshot));
        const left = (await Promise.all(expired.map((s) => staging.exists(s.manifestList)))).filter(Boolean).length;
        return { expired: expired.length, left };
      });
    },

    /** Objects under the table's location (data, deletes, metadata, orphans): what expiry and orphan removal delete. */
    async countTableObjects(def: TableDefinition): Promise<number> {
      const what = `table ${tableName(def)}: listing its location`;
      return whileWaiting(what, async (signal) => {
        const location = def.location ?? (await tableLocation(signal));
        return location ? (await staging.list(location)).length : 0;
      });

      async function tableLocation(signal: AbortSignal): Promise<string | undefined> {
        const {
          rows: [row],
        } = await engine.read(`SELECT file_path FROM ${dialect.metadataTable(def, 'files')} LIMIT 1`, signal);
        const path = row ? String(row.file_path) : undefined;
        return path?.slice(0, path.lastIndexOf('/data/') + 1) || undefined;
      }
    },
  };
}

/**
 * Between two held steps, the schedule's next tick must start a batch (and the hold then waits for it), or
 * back-to-back steps would keep ingestion held for the whole run. Only when that tick is due within
 * LONGEST_LET_THROUGH_WAIT_MS: for a long cadence a step's hold is short beside it. Skipped when someone paused it.
 */
async function letOneBatchThrough(schedule: ScheduleHandle, releasedAt: number): Promise<void> {
  const ctx = Context.current();
  const next = (await schedule.describe()).info.nextActionTimes[0]?.getTime();
  if (next === undefined || next > releasedAt + LONGEST_LET_THROUGH_WAIT_MS) return;
  while (Date.now() < next + 5000) {
    const { state, info } = await schedule.describe();
    if (state.paused || info.recentActions.some((action) => action.takenAt.getTime() > releasedAt)) return;
    ctx.heartbeat();
    await ctx.sleep(250);
  }
}
