import type { KeyRange } from '../changes/validate';
import type { TableDefinition } from '../config/schema';
import type { ChangeBatch } from '../formats/format';
import { formatOf } from '../formats/registry';
import type { Dialect } from './dialect';
import { quoteIdent, quoteString } from './identifiers';
import { sliceCondition, type PartitionSlice } from './partitions';
import { COMMIT_TS_COLUMN, DELETED_COLUMN, INITIAL_COLUMN, OP_COLUMN, PATH_COLUMN, SEQUENCE_COLUMN, VERSION_COLUMN } from './metadata';

const VERSION_SEPARATOR = 'chr(1)';
/** Leads the version of an initial copy of a row (full load, snapshot read). */
const INITIAL_MARK = '#';

/**
 * What a batch's MERGE needs beyond its files: the key range to prune the target by, a folder format's export time,
 * and when the batch spans more partitions than one statement may write, the slice of them this MERGE applies.
 */
export interface MergeBatch {
  keyRange?: KeyRange;
  exportTime?: string;
  slice?: PartitionSlice;
}

/**
 * One MERGE that applies a batch of change files to the Iceberg target, atomically.
 *
 * Ordering rule (explicit, tested): a change is newer than another when its commit time is later; equal commit
 * times are ordered by the format's sequence (DMS: the table's sequence column, when it has one; Debezium: the
 * source position; DynamoDB: SequenceNumber), then by the change file's path under the staging location (DMS
 * names files by time), then by operation I < U < D. The rule is encoded as one sortable string, the version
 * (fields joined by U+0001); each key keeps only its newest change of the batch, and a change reaches the target
 * only when its version is greater than the row's. Replays, duplicates and out-of-order files therefore change
 * nothing. The table's kind decides the clauses: cdc upserts and deletes; append only inserts keys not there yet;
 * snapshot makes the table equal the export (see snapshotSource).
 */
export function renderMerge(def: TableDefinition, dialect: Dialect, filePaths: string[], batch: MergeBatch = {}): string {
  if (filePaths.length === 0) throw new Error('a MERGE needs at least one change file');
  const q = quoteIdent;
  const keys = def.primaryKey;
  const nonKeys = def.columns.filter((c) => !keys.includes(c.name));
  const whole = renderMergeSource(def, dialect, filePaths, batch);
  const source = batch.slice ? `SELECT * FROM (${whole}) AS batch WHERE ${sliceCondition(def, batch.slice)}` : whole;
  const newer = `s.${q(VERSION_COLUMN)} > t.${q(VERSION_COLUMN)}`;
  const isDelete = `s.${q(OP_COLUMN)} = 'D'`;
  const metaSet = [VERSION_COLUMN, COMMIT_TS_COLUMN].map((c) => `${q(c)} = s.${q(c)}`);
  const upsertSet = [...nonKeys.map((c) => `${q(c.name)} = s.${q(c.name)}`), ...metaSet, `${q(DELETED_COLUMN)} = false`];
  const insertColumns = [...def.columns.map((c) => q(c.name)), q(VERSION_COLUMN), q(COMMIT_TS_COLUMN), q(DELETED_COLUMN)];
  const insertLive = `INSERT (${insertColumns.join(', ')}) VALUES (${[
    ...def.columns.map((c) => `s.${q(c.name)}`),
    `s.${q(VERSION_COLUMN)}`,
    `s.${q(COMMIT_TS_COLUMN)}`,
    'false',
  ].join(', ')})`;
  // A delete leaves key + version behind, so an older change arriving later cannot bring the row back.
  const tombstone = `WHEN MATCHED AND ${newer} AND ${isDelete} THEN UPDATE SET ${[
    ...nonKeys.map((c) => `${q(c.name)} = NULL`),
    ...metaSet,
    `${q(DELETED_COLUMN)} = true`,
  ].join(', ')}`;

  const clauses = ((): string[] => {
    switch (def.kind) {
      case 'append':
        // Immutable records: a key already there is never touched, so a replayed file writes nothing.
        return [`WHEN NOT MATCHED THEN ${insertLive}`];
      case 'snapshot': {
        // Rows the export leaves as they are are not rewritten: a daily export writes only what changed.
        const changed = [`t.${q(DELETED_COLUMN)}`, ...nonKeys.map((c) => `t.${q(c.name)} IS DISTINCT FROM s.${q(c.name)}`)].join(' OR ');
        return [
          tombstone,
          `WHEN MATCHED AND ${newer} AND (${changed}) THEN UPDATE SET ${upsertSet.join(', ')}`,
          `WHEN NOT MATCHED AND NOT ${isDelete} THEN ${insertLive}`,
        ];
      }
      default:
        return def.deletes === 'tombstone'
          ? [
              tombstone,
              `WHEN MATCHED AND ${newer} THEN UPDATE SET ${upsertSet.join(', ')}`,
              `WHEN NOT MATCHED THEN INSERT (${insertColumns.join(', ')}) VALUES (${[
                ...def.columns.map((c) =>
                  keys.includes(c.name) ? `s.${q(c.name)}` : `CASE WHEN ${isDelete} THEN NULL ELSE s.${q(c.name)} END`,
                ),
                `s.${q(VERSION_COLUMN)}`,
                `s.${q(COMMIT_TS_COLUMN)}`,
                isDelete,
              ].join(', ')})`,
            ]
          : [
              `WHEN MATCHED AND ${newer} AND ${isDelete} THEN DELETE`,
              `WHEN MATCHED AND ${newer} THEN UPDATE SET ${upsertSet.join(', ')}`,
              `WHEN NOT MATCHED AND NOT ${isDelete} THEN ${insertLive}`,
            ];
    }
  })();

  // A snapshot compares the whole table with the export: no key range can narrow it.
  const pruning = def.kind === 'snapshot' ? [] : targetPruning(batch.keyRange);
  return [
    `MERGE INTO ${dialect.target(def)} AS t`,
    `USING (${source}) AS s`,
    `ON ${[...keys.map((k) => `t.${q(k)} = s.${q(k)}`), ...pruning].join(' AND ')}`,
    ...clauses,
  ].join('\n');
}

/** What a MERGE applies: the batch's newest change per key (a snapshot's: the export against the table). */
export function renderMergeSource(def: TableDefinition, dialect: Dialect, filePaths: string[], batch: MergeBatch = {}): string {
  const changes = renderDedupedSource(def, dialect, { files: filePaths, exportTime: batch.exportTime });
  return def.kind === 'snapshot' ? snapshotSource(def, dialect, changes, filePaths, batch.exportTime) : changes;
}

/**
 * A snapshot's source: the export's rows, plus a delete for every live row of the table whose key the export does
 * not hold. One MERGE then makes the table equal the export in one commit: readers see the old contents or the new,
 * never a mixture, and no file a reader may be reading is removed (Iceberg keeps replaced files until snapshot
 * expiry). The deletes carry the export's version. Rows an export leaves unchanged keep their older versions, so a
 * late export could still delete a row a newer export kept: the source is empty when the table holds any change at
 * or after the export's time (a newer export merged). A newer export that changed no row leaves no such trace: the
 * workflow refuses an export older than its watermark before this MERGE.
 */
function snapshotSource(
  def: TableDefinition,
  dialect: Dialect,
  changes: string,
  filePaths: string[],
  exportTime: string | undefined,
): string {
  if (!exportTime) throw new Error(`table ${def.database}.${def.table}: a snapshot MERGE needs the export's time`);
  const q = quoteIdent;
  const keys = def.primaryKey;
  const relativePath = quoteString(filePaths[0].slice(def.staging.location.length));
  const exportTs = `TIMESTAMP ${quoteString(exportTime)}`;
  const absentVersion = [`to_iso8601(${exportTs})`, `''`, relativePath, `'3'`].join(` || ${VERSION_SEPARATOR} || `);
  const columns = def.columns.map((c) =>
    keys.includes(c.name) ? `coalesce(n.${q(c.name)}, o.${q(c.name)}) AS ${q(c.name)}` : `n.${q(c.name)}`,
  );
  const absent = `n.${q(keys[0])} IS NULL`;
  return (
    `SELECT ${columns.join(', ')}, CASE WHEN ${absent} THEN 'D' ELSE n.${q(OP_COLUMN)} END AS ${q(OP_COLUMN)}, ` +
    `CASE WHEN ${absent} THEN ${absentVersion} ELSE n.${q(VERSION_COLUMN)} END AS ${q(VERSION_COLUMN)}, ` +
    `coalesce(n.${q(COMMIT_TS_COLUMN)}, ${exportTs}) AS ${q(COMMIT_TS_COLUMN)} ` +
    `FROM (${changes}) AS n FULL OUTER JOIN (SELECT ${keys.map(q).join(', ')} FROM ${dialect.target(def)} WHERE NOT ${q(DELETED_COLUMN)}) AS o ` +
    `ON ${keys.map((k) => `n.${q(k)} = o.${q(k)}`).join(' AND ')} ` +
    // Iceberg's column bounds on the commit time let the engine skip every file older than the export.
    `WHERE NOT EXISTS (SELECT 1 FROM ${dialect.target(def)} WHERE ${q(COMMIT_TS_COLUMN)} >= ${exportTs})`
  );
}

/**
 * Every key of the batch lies in keyRange, so restricting the target to it changes no match; it lets the engine skip
 * target files and row groups whose key statistics fall outside the batch (a batch's cost follows the batch).
 */
function targetPruning(keyRange: KeyRange | undefined): string[] {
  if (!keyRange) return [];
  if (!/^-?\d+$/.test(keyRange.min) || !/^-?\d+$/.test(keyRange.max))
    throw new Error(`key range must be integers: ${JSON.stringify(keyRange)}`);
  return [`t.${quoteIdent(keyRange.column)} BETWEEN ${keyRange.min} AND ${keyRange.max}`];
}

/**
 * The batch's changes, read by the table's format and typed, newest per key. Reads only the listed files ("$path").
 * The version puts the ordering rule in one string: commit time, the format's sequence, the file's path under
 * staging, the operation.
 */
export function renderDedupedSource(def: TableDefinition, dialect: Dialect, batch: ChangeBatch): string {
  const q = quoteIdent;
  const relativePath = `substr(${q(PATH_COLUMN)}, ${def.staging.location.length + 1})`;
  const opRank = `CASE ${q(OP_COLUMN)} WHEN 'I' THEN '1' WHEN 'U' THEN '2' ELSE '3' END`;
  // '#' sorts below every digit a commit time starts with: an initial copy ranks below every captured change.
  const time = `CASE WHEN ${q(INITIAL_COLUMN)} THEN '${INITIAL_MARK}' ELSE '' END || to_iso8601(${q(COMMIT_TS_COLUMN)})`;
  // A sequence names one change: the same change delivered again under any path has the same version. Only without
  // one does the path (DMS names files by time) break ties, between changes nothing else tells apart.
  const tieBreak = `CASE WHEN ${q(SEQUENCE_COLUMN)} = '' THEN ${relativePath} ELSE '' END`;
  // The separator sorts below every character the fields can hold, so the string compares as the tuple would.
  const version = [time, q(SEQUENCE_COLUMN), tieBreak, opRank].join(` || ${VERSION_SEPARATOR} || `);
  const outputColumns = [...def.columns.map((c) => q(c.name)), q(OP_COLUMN), q(VERSION_COLUMN), q(COMMIT_TS_COLUMN)];
  const changes = formatOf(def).changes(def, dialect, batch, 'merge');
  const versioned = `SELECT *, ${version} AS ${q(VERSION_COLUMN)} FROM (${changes}) AS changes`;
  const ranked =
    `SELECT *, row_number() OVER (PARTITION BY ${def.primaryKey.map(q).join(', ')} ORDER BY ${q(VERSION_COLUMN)} DESC) AS _icetide_rank ` +
    `FROM (${versioned}) AS versioned`;
  return `SELECT ${outputColumns.join(', ')} FROM (${ranked}) AS ranked WHERE _icetide_rank = 1`;
}

/** Room kept in every MERGE for what the file list does not show yet: a partition slice's condition, the key range. */
const STATEMENT_ALLOWANCE_BYTES = 4096;

/** Stands in for a folder format's export time when a MERGE is sized before its files are read. */
const SIZING_EXPORT_TIME = '1970-01-01 00:00:00.000000';

/**
 * How many of `files` (taken in order) one MERGE holds within the engine's statement limit, counting all that is
 * rendered — columns, expressions, the file list — plus room for a partition slice. 0: not even the first fits.
 */
export function filesThatFit(def: TableDefinition, dialect: Dialect, files: string[]): number {
  const fits = (n: number) =>
    Buffer.byteLength(renderMerge(def, dialect, files.slice(0, n), { exportTime: SIZING_EXPORT_TIME })) + STATEMENT_ALLOWANCE_BYTES <=
    dialect.maxStatementBytes;
  if (files.length === 0 || fits(files.length)) return files.length;
  let fitting = 0; // the largest count known to fit (0 fits trivially)
  let over = files.length; // the smallest count known not to
  while (over - fitting > 1) {
    const mid = Math.floor((fitting + over) / 2);
    if (fits(mid)) fitting = mid;
    else over = mid;
  }
  return fitting;
}
