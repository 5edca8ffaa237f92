import type { TableDefinition } from '../config/schema';
import type { ChangeBatch } from '../formats/format';
import { formatOf } from '../formats/registry';
import { givenColumn } from './changes';
import type { Dialect } from './dialect';
import { quoteIdent, quoteString } from './identifiers';
import { COMMIT_TS_COLUMN, OP_COLUMN, PATH_COLUMN, SEQUENCE_COLUMN } from './metadata';

/** Commit times (`yyyy-MM-dd HH:mm:ss.ffffff`, UTC) a batch's changes must lie between. */
export interface CommitHorizon {
  /** The worker's clock plus limits.maxClockSkew: later is a forged or corrupt record. */
  latest: string;
  /** The tombstone purge horizon: an older change could resurrect a deleted row. */
  purgedThrough?: string;
}

/** The first key column, when it is an integer: the check reports its range, which lets the MERGE prune the target. */
export const integerFirstKey = (def: TableDefinition): string | undefined => {
  const first = def.columns.find((c) => c.name === def.primaryKey[0]);
  return first && (first.type === 'bigint' || first.type === 'int') ? first.name : undefined;
};

/**
 * The engine's check of a batch, before its MERGE: one read of the batch's changes with the MERGE's own conversions
 * (the format's changes SELECT in check mode), so what it accepts is exactly what the MERGE converts. One row per file
 * holding changes: how many, how many the MERGE would refuse or misread and why (a missing or unknown operation,
 * commit time, key or sequence; per column, values given that do not convert), commit times outside the horizon, the
 * newest commit time and the first key's range. Counts only: the values stay in the engine.
 */
export function renderBatchCheck(def: TableDefinition, dialect: Dialect, batch: ChangeBatch, horizon: CommitHorizon): string {
  const q = quoteIdent;
  const commit = q(COMMIT_TS_COLUMN);
  const op = q(OP_COLUMN);
  const keyIndexes = def.primaryKey.map((k) => def.columns.findIndex((c) => c.name === k));
  const key = integerFirstKey(def);
  const measures = [
    'count(*) AS changes',
    `count_if(${op} IS NULL) AS bad_op`,
    `count_if(${def.kind === 'append' ? `${op} <> 'I'` : 'false'}) AS not_insert`,
    `count_if(${commit} IS NULL) AS bad_commit`,
    `count_if(NOT (${keyIndexes.map(givenColumn).join(' AND ')})) AS missing_key`,
    `count_if(${q(SEQUENCE_COLUMN)} IS NULL) AS bad_sequence`,
    `count_if(${commit} > TIMESTAMP ${quoteString(horizon.latest)}) AS future`,
    `count_if(${horizon.purgedThrough ? `${commit} < TIMESTAMP ${quoteString(horizon.purgedThrough)}` : 'false'}) AS too_late`,
    `CAST(max(${commit}) AS varchar) AS max_commit_ts`,
    ...(key ? [`CAST(min(${q(key)}) AS varchar) AS key_min`, `CAST(max(${q(key)}) AS varchar) AS key_max`] : []),
    ...def.columns.map((c, i) => `count_if(${givenColumn(i)} AND ${q(c.name)} IS NULL) AS ${badValues(i)}`),
  ];
  const changes = formatOf(def).changes(def, dialect, batch, 'check');
  return `SELECT ${q(PATH_COLUMN)} AS path, ${measures.join(', ')} FROM (${changes}) AS changes GROUP BY ${q(PATH_COLUMN)}`;
}

/** In the check's answer: how many values of the table's i-th column do not convert. */
export const badValues = (i: number): string => `bad_${i}`;
