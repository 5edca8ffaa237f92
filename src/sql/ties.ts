import type { TableDefinition } from '../config/schema';
import type { ChangeBatch } from '../formats/format';
import { formatOf } from '../formats/registry';
import type { Dialect } from './dialect';
import { quoteIdent } from './identifiers';
import { COMMIT_TS_COLUMN, OP_COLUMN, PATH_COLUMN, SEQUENCE_COLUMN } from './metadata';

/** Whether the table's changes can tie: a DMS table without a sequence column (DMS's AR_H_CHANGE_SEQ). */
export const changesCanTie = (def: TableDefinition): boolean => def.staging.format.startsWith('dms-') && !def.ordering.sequence;

/**
 * Different changes of one key with the same commit time in one file, and no sequence to order them (a delete and
 * re-insert in one transaction, two updates in one second): no rule can tell which came last — an engine reads a
 * file's rows in no guaranteed order — so such a batch is refused rather than merged by a guess. One row per file and
 * commit time: how many keys tie there (their values stay in the engine). The same change delivered twice is no tie.
 */
export function renderOrderingTies(def: TableDefinition, dialect: Dialect, batch: ChangeBatch): string {
  const q = quoteIdent;
  const changes = formatOf(def).changes(def, dialect, batch, 'merge');
  const nonKeys = def.columns.filter((c) => !def.primaryKey.includes(c.name));
  const content = [q(OP_COLUMN), ...nonKeys.map((c) => `coalesce(CAST(${q(c.name)} AS varchar), chr(2))`)].join(' || chr(1) || ');
  const tied =
    `SELECT ${q(PATH_COLUMN)} AS path, ${q(COMMIT_TS_COLUMN)} AS commit_ts FROM (${changes}) AS changes ` +
    `WHERE ${q(SEQUENCE_COLUMN)} = '' GROUP BY ${q(PATH_COLUMN)}, ${q(COMMIT_TS_COLUMN)}, ${def.primaryKey.map(q).join(', ')} ` +
    `HAVING count(DISTINCT ${content}) > 1`;
  return `SELECT path, CAST(commit_ts AS varchar) AS commit_time, count(*) AS keys FROM (${tied}) AS tied GROUP BY path, commit_ts ORDER BY path, commit_ts LIMIT 10`;
}
