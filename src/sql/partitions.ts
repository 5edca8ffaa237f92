import type { TableDefinition } from '../config/schema';
import { quoteIdent, quoteString } from './identifiers';

/**
 * Both engines write at most 100 partitions per statement (Trino `iceberg.max-partitions-per-writer`, Athena
 * ICEBERG_TOO_MANY_OPEN_PARTITIONS). A batch whose changes span more is applied as several MERGEs, each restricted
 * to a slice of the batch's partitions. Each is idempotent under the version guard, so a crash between them, or a
 * repeat, is harmless; staging is cleaned only after the last one succeeded.
 */
export const ENGINE_PARTITIONS_PER_STATEMENT = 100;

/** A contiguous range of the batch's partition keys (see partitionKey): one MERGE's share of the batch. */
export interface PartitionSlice {
  first: string;
  last: string;
  /** How many of the batch's partition keys lie in the range. */
  partitions: number;
}

/** The engine's error when a statement writes more partitions than it allows. */
export const isTooManyPartitions = (error: { message: string; code?: string } | undefined): boolean =>
  !!error && /TOO_MANY_OPEN_PARTITIONS|open writers for partitions/i.test(`${error.code ?? ''} ${error.message}`);

const NULL_KEY = `'NULL' || chr(2)`;

/**
 * A change's partition as one sortable text, computed from the change's own columns the way the table's
 * partitioning does (identity, year/month/day/hour, truncate). bucket(c, n) is left out: it multiplies the
 * partitions a slice can touch by n (see partitionBudget). Undefined for an unpartitioned table, or one
 * partitioned by buckets alone (it never exceeds its bucket count).
 */
export function partitionKey(def: TableDefinition): string | undefined {
  const parts = def.partitioning.flatMap((spec) => {
    const transform = /^(\w+)\((\w+)(?:,\s*(\d+))?\)$/.exec(spec);
    if (!transform) return [`CAST(${quoteIdent(spec)} AS varchar)`];
    const [, fn, column, width] = transform;
    const c = quoteIdent(column);
    switch (fn) {
      case 'bucket':
        return [];
      case 'truncate':
        return def.columns.find((col) => col.name === column)?.type === 'string'
          ? [`substr(${c}, 1, ${width})`]
          : [`CAST(${c} - mod(mod(${c}, ${width}) + ${width}, ${width}) AS varchar)`]; // Iceberg rounds towards -inf
      default:
        return [`CAST(date_trunc(${quoteString(fn)}, ${c}) AS varchar)`]; // year, month, day, hour
    }
  });
  return parts.length ? parts.map((p) => `coalesce(${p}, ${NULL_KEY})`).join(` || chr(1) || `) : undefined;
}

/**
 * How many partition keys one MERGE may take so that it writes at most `limit` partitions: divided by the bucket
 * counts, less one for the partition a tombstone moves a row to when it nulls a partition column.
 */
export function partitionBudget(def: TableDefinition, limit = ENGINE_PARTITIONS_PER_STATEMENT): number {
  let multiplier = 1;
  let tombstoneMoves = false;
  for (const spec of def.partitioning) {
    const bucket = /^bucket\((\w+),\s*(\d+)\)$/.exec(spec);
    if (bucket) multiplier *= Number(bucket[2]);
    const column = /^\w+\((\w+)/.exec(spec)?.[1] ?? spec;
    if (def.deletes === 'tombstone' && !def.primaryKey.includes(column)) tombstoneMoves = true;
  }
  return Math.max(1, Math.floor((limit - (tombstoneMoves ? 1 : 0)) / multiplier));
}

/**
 * One read over the batch's changes (the MERGE's own source) that cuts their partition keys, in order, into slices
 * of at most `budget` keys: one row per slice.
 */
export function renderPartitionSlices(def: TableDefinition, source: string, budget: number): string {
  const key = partitionKey(def);
  if (!key) throw new Error(`table ${def.database}.${def.table}: not partitioned by anything a batch can span`);
  const keys = `SELECT DISTINCT ${key} AS k FROM (${source}) AS changes`;
  const ranked = `SELECT k, (dense_rank() OVER (ORDER BY k) - 1) / ${budget} AS slice FROM (${keys}) AS keys`;
  return `SELECT min(k) AS first, max(k) AS last, count(*) AS partitions FROM (${ranked}) AS ranked GROUP BY slice ORDER BY slice`;
}

/** The condition that keeps a slice's changes. */
export function sliceCondition(def: TableDefinition, slice: PartitionSlice): string {
  const key = partitionKey(def);
  if (!key) throw new Error(`table ${def.database}.${def.table}: a partition slice needs a partitioned table`);
  return `${key} BETWEEN ${quoteString(slice.first)} AND ${quoteString(slice.last)}`;
}
