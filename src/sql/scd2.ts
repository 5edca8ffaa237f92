import type { ModelDefinition } from '../config/models';
import type { Dialect } from './dialect';
import { quoteIdent, quoteString } from './identifiers';
import { modelQuery, renderCreateTableAs } from './models';

type Scd2Model = Extract<ModelDefinition, { materialization: 'scd2' }>;

/** The history columns after the SELECT's own. */
export const SCD2_COLUMNS = ['row_hash', 'valid_from', 'valid_to', 'is_current'] as const;

const timestampType = (dialect: Dialect) => (dialect.kind === 'athena' ? 'timestamp' : 'timestamp(6)');

/** The history table, empty, with the SELECT's columns then row_hash, valid_from, valid_to, is_current. */
export function renderScd2Create(model: Scd2Model, dialect: Dialect, warehouse?: string): string {
  const ts = timestampType(dialect);
  const select =
    `SELECT model.*, CAST(NULL AS varchar) AS row_hash, CAST(NULL AS ${ts}) AS valid_from, ` +
    `CAST(NULL AS ${ts}) AS valid_to, CAST(NULL AS boolean) AS is_current FROM ${modelQuery(model)}`;
  return renderCreateTableAs(model, model.name, select, dialect, { warehouse, noData: true });
}

/**
 * One MERGE, one Iceberg commit, brings the history to the SELECT's rows as of `at`: a changed row (its hash differs)
 * closes the current version and opens a new one; a new key opens one; a key gone from the SELECT is closed. The
 * source holds each changed key twice — once keyed to close the current version, once with NULL keys, which match
 * nothing, to insert the new one. Unchanged rows match and do nothing, so running it again changes nothing.
 * `columns` are the SELECT's columns (the history table's, without its own four).
 */
export function renderScd2Merge(model: Scd2Model, columns: readonly string[], at: string, dialect: Dialect): string {
  const history = dialect.relation(model.database, model.name);
  const keys = model.scd2.key;
  const tracked = model.scd2.columns ?? columns.filter((c) => !keys.includes(c));
  const q = quoteIdent;
  const list = (prefix: string, names: readonly string[]) => names.map((c) => `${prefix}.${q(c)}`).join(', ');
  const mergeKeys = keys.map((_, i) => `icetide_key_${i}`);
  const hash = `to_hex(md5(to_utf8(json_format(CAST(ARRAY[${tracked.map((c) => `CAST(model.${q(c)} AS varchar)`).join(', ')}] AS JSON)))))`;
  const source = `(SELECT model.*, ${hash} AS row_hash FROM ${modelQuery(model)})`;
  const sameKey = (a: string, b: string) => keys.map((k) => `${a}.${q(k)} = ${b}.${q(k)}`).join(' AND ');
  const ts = `TIMESTAMP ${quoteString(at)}`;
  /** One part of the source: merge keys, then the row's columns and hash from `alias`, and whether the key is gone. */
  const branch = (keyValues: string, alias: 's' | 'c', gone: boolean) =>
    `SELECT ${keyValues}, ${list(alias, columns)}, ${alias}.row_hash, ${gone} AS icetide_gone`;
  return [
    `MERGE INTO ${history} AS h`,
    `USING (`,
    `  ${branch(keys.map((k, i) => `s.${q(k)} AS ${mergeKeys[i]}`).join(', '), 's', false)} FROM ${source} AS s`,
    `  UNION ALL`,
    `  ${branch(keys.map(() => 'NULL').join(', '), 's', false)} FROM ${source} AS s`,
    `    JOIN ${history} AS c ON ${sameKey('c', 's')} AND c.is_current AND c.row_hash <> s.row_hash`,
    `  UNION ALL`,
    `  ${branch(keys.map((k) => `c.${q(k)}`).join(', '), 'c', true)} FROM ${history} AS c`,
    `    WHERE c.is_current AND NOT EXISTS (SELECT 1 FROM ${source} AS s WHERE ${sameKey('s', 'c')})`,
    `) AS u`,
    `ON ${keys.map((k, i) => `h.${q(k)} = u.${mergeKeys[i]}`).join(' AND ')} AND h.is_current`,
    `WHEN MATCHED AND (u.icetide_gone OR h.row_hash <> u.row_hash) THEN UPDATE SET valid_to = ${ts}, is_current = false`,
    `WHEN NOT MATCHED AND NOT u.icetide_gone THEN INSERT (${[...columns, ...SCD2_COLUMNS].map(q).join(', ')})`,
    `  VALUES (${list('u', columns)}, u.row_hash, ${ts}, NULL, true)`,
  ].join('\n');
}
