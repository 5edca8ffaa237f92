import type { TableDefinition } from '../config/schema';
import { durationMillis } from '../config/duration';
import type { Dialect } from './dialect';
import { hiveString, quoteIdent, quoteString } from './identifiers';
import { COMMIT_TS_COLUMN, DELETED_COLUMN } from './metadata';

/**
 * The statements of a maintenance run, per dialect. Compaction is the engine's whole-table rewrite, which selects by
 * itself the files worth rewriting (small ones, and those with deletes): a partition no batch touched since the last
 * run holds one file without deletes and is left byte for byte, so the cost follows what changed, for every
 * partitioning (identity, bucket, truncate, year/month/day/hour, none). Filtered variants are worse on Trino 476:
 * a `"$path"` or `"$partition"` filter keeps the rewritten partitions' position-delete files in the table.
 */

/** Tombstones whose change is older than `horizon` (`yyyy-MM-dd HH:mm:ss.ffffff`) are deleted. */
export function renderPurgeTombstones(def: TableDefinition, dialect: Dialect, horizon: string): string {
  if (!/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}$/.test(horizon)) throw new Error(`not a purge horizon: ${horizon}`);
  return `DELETE FROM ${dialect.target(def)} WHERE ${quoteIdent(DELETED_COLUMN)} AND ${quoteIdent(COMMIT_TS_COLUMN)} < TIMESTAMP ${quoteString(horizon)}`;
}

/** One round of compaction; on Athena it may answer ICEBERG_OPTIMIZE_MORE_RUNS_NEEDED, and then runs again. */
export function renderCompaction(def: TableDefinition, dialect: Dialect): string {
  return dialect.kind === 'trino'
    ? `ALTER TABLE ${dialect.target(def)} EXECUTE optimize(file_size_threshold => ${quoteString(def.maintenance.targetFileSize)})`
    : `OPTIMIZE ${athenaName(def)} REWRITE DATA USING BIN_PACK`;
}

/**
 * Athena's OPTIMIZE and VACUUM take their settings from table properties; set them from the definition before
 * each run so a changed definition takes effect. Trino passes them as procedure arguments instead.
 */
export function renderMaintenanceProperties(def: TableDefinition, dialect: Dialect): string | undefined {
  if (dialect.kind === 'trino') return undefined;
  const properties = {
    vacuum_max_snapshot_age_seconds: String(durationMillis(def.maintenance.retain.snapshots) / 1000),
    vacuum_min_snapshots_to_keep: '1',
    write_target_data_file_size_bytes: String(bytesOf(def.maintenance.targetFileSize)),
    // Athena's defaults (2 and 5) leave a CDC partition's data file with one delete file, or a few small files, as
    // they are: rewrite any file with a delete, and any two small files of a partition.
    optimize_rewrite_delete_file_threshold: '1',
    optimize_rewrite_data_file_threshold: '2',
  };
  const list = Object.entries(properties).map(([k, v]) => `${hiveString(k)}=${hiveString(v)}`);
  return `ALTER TABLE ${athenaName(def)} SET TBLPROPERTIES (${list.join(', ')})`;
}

/** Snapshot expiry; on Athena VACUUM, which also removes orphan files, and may answer ICEBERG_VACUUM_MORE_RUNS_NEEDED. */
export function renderExpireSnapshots(def: TableDefinition, dialect: Dialect): string {
  return dialect.kind === 'trino'
    ? `ALTER TABLE ${dialect.target(def)} EXECUTE expire_snapshots(retention_threshold => ${quoteString(def.maintenance.retain.snapshots)})`
    : `VACUUM ${athenaName(def)}`;
}

/** Orphan-file removal: Trino only (Athena's VACUUM did it with the snapshots). */
export function renderRemoveOrphans(def: TableDefinition, dialect: Dialect): string | undefined {
  return dialect.kind === 'trino'
    ? `ALTER TABLE ${dialect.target(def)} EXECUTE remove_orphan_files(retention_threshold => ${quoteString(def.maintenance.retain.orphans)})`
    : undefined;
}

/** Files per partition and kind (content 0: data, 1: position deletes, 2: equality deletes), from Iceberg metadata. */
export function renderFileStats(def: TableDefinition, dialect: Dialect): string {
  const partition = def.partitioning.length ? 'json_format(CAST("partition" AS JSON))' : `'{}'`;
  return (
    `SELECT ${partition} AS part, content, count(*) AS files, sum(file_size_in_bytes) AS bytes ` +
    `FROM ${dialect.metadataTable(def, 'files')} GROUP BY 1, 2`
  );
}

/** How many snapshots the table keeps, and how many of them are older than the retention. */
export function renderSnapshotStats(def: TableDefinition, dialect: Dialect): string {
  return (
    `SELECT count(*) AS snapshots, count_if(committed_at < current_timestamp - parse_duration(${quoteString(def.maintenance.retain.snapshots)})) AS expirable ` +
    `FROM ${dialect.metadataTable(def, 'snapshots')}`
  );
}

/**
 * The oldest `limit` snapshots older than the retention, with their manifest lists: each snapshot's own file, which
 * expiry deletes with it. Checking them afterwards tells whether expiry could delete files.
 */
export function renderExpirySample(def: TableDefinition, dialect: Dialect, limit: number): string {
  return (
    `SELECT CAST(snapshot_id AS varchar) AS snapshot, manifest_list FROM ${dialect.metadataTable(def, 'snapshots')} ` +
    `WHERE committed_at < current_timestamp - parse_duration(${quoteString(def.maintenance.retain.snapshots)}) ORDER BY committed_at LIMIT ${limit}`
  );
}

/** Which of `snapshots` (ids) the table still has. */
export function renderSnapshotsKept(def: TableDefinition, dialect: Dialect, snapshots: string[]): string {
  const ids = snapshots.map((id) => {
    if (!/^-?\d+$/.test(id)) throw new Error(`not a snapshot id: ${JSON.stringify(id)}`);
    return id;
  });
  return `SELECT CAST(snapshot_id AS varchar) AS snapshot FROM ${dialect.metadataTable(def, 'snapshots')} WHERE snapshot_id IN (${ids.join(', ')})`;
}

/** Athena's OPTIMIZE, VACUUM and ALTER TABLE take a plain `db.table` (both validated identifiers). */
const athenaName = (def: TableDefinition): string => `${def.database}.${def.table}`;

function bytesOf(size: string): number {
  const [, amount, unit] = /^(\d+)(MB|GB)$/.exec(size) ?? [];
  return Number(amount) * (unit === 'GB' ? 2 ** 30 : 2 ** 20);
}
