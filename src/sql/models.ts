import type { ModelDefinition } from '../config/models';
import type { Dialect } from './dialect';
import { backtick, quoteString } from './identifiers';
import { renderColumnsIn } from './catalog';
import { embedFragment } from './fragment';

/**
 * The statements that build and publish a model (workflows/build-model.ts), both dialects. A `table` model is a view over
 * its current version: versions are built by CTAS, audited, and published by replacing the view — one atomic step
 * for readers — before the previous version is dropped.
 */

/** The model's SELECT as a subquery: its own trailing semicolon dropped. */
export const modelQuery = (model: Pick<ModelDefinition, 'sql'>): string => `(${embedFragment(model.sql)}) AS model`;

/** `name__v<millis>`: one table per build, so a new build never touches what readers use. */
export const versionName = (model: Pick<ModelDefinition, 'name'>, millis: number): string => `${model.name}__v${millis}`;
export const VERSION_PATTERN = (model: Pick<ModelDefinition, 'name'>): RegExp => new RegExp(`^${model.name}__v\\d+$`);

/**
 * CTAS of a SELECT into a new Iceberg table in the model's format and partitioning, under the model's location (or,
 * on Athena, which needs one, the warehouse's `<database>/<table>/`). `noData` creates the table empty (incremental
 * and SCD2 targets).
 */
export function renderCreateTableAs(
  model: Pick<ModelDefinition, 'database' | 'partitioning' | 'format' | 'location'>,
  table: string,
  select: string,
  dialect: Dialect,
  options: { warehouse?: string; noData?: boolean } = {},
): string {
  const format = `format = ${quoteString(model.format ?? 'PARQUET')}`;
  const properties = dialect.kind === 'athena' ? [`table_type = 'ICEBERG'`, `is_external = false`, format] : [format];
  if (model.partitioning.length) properties.push(`partitioning = ARRAY[${model.partitioning.map(quoteString).join(', ')}]`);
  const warehouse = dialect.kind === 'athena' && options.warehouse && `${options.warehouse.replace(/\/$/, '')}/${model.database}`;
  const base = model.location ?? warehouse;
  if (base) properties.push(`location = ${quoteString(`${base.replace(/\/$/, '')}/${table}/`)}`);
  else if (dialect.kind === 'athena') {
    throw new Error(`model ${model.database}.${table}: Athena needs a location (the model's, or ICETIDE_WAREHOUSE)`);
  }
  return (
    `CREATE TABLE ${dialect.relation(model.database, table)} WITH (${properties.join(', ')}) AS\n${select}` +
    (options.noData ? '\nWITH NO DATA' : '')
  );
}

/** A `table` model's build: every row of its SELECT. */
export const renderBuild = (model: ModelDefinition, version: string, dialect: Dialect, warehouse?: string): string =>
  renderCreateTableAs(model, version, `SELECT * FROM ${modelQuery(model)}`, dialect, { warehouse });

/** Publishing: the model's name becomes a view over the version, in one step for readers. */
export const renderPublish = (model: ModelDefinition, version: string, dialect: Dialect): string =>
  `CREATE OR REPLACE VIEW ${dialect.relation(model.database, model.name)} AS SELECT * FROM ${dialect.relation(model.database, version)}`;

export const renderDropTable = (database: string, table: string, dialect: Dialect): string =>
  dialect.kind === 'athena'
    ? `DROP TABLE IF EXISTS ${backtick(database)}.${backtick(table)}`
    : `DROP TABLE IF EXISTS ${dialect.relation(database, table)}`;

/** The tables of a database whose name starts with `prefix` (a model's versions, or the model's own table). */
export function renderListTables(database: string, prefix: string, dialect: Dialect): string {
  const pattern = prefix.replace(/[\\_%]/g, (ch) => `\\${ch}`);
  return (
    `SELECT table_name FROM ${dialect.icebergCatalog}.information_schema.tables ` +
    `WHERE table_schema = ${quoteString(database)} AND table_name LIKE ${quoteString(`${pattern}%`)} ESCAPE '\\'`
  );
}

/** The columns of a model's table in their order. */
export const renderColumns = (database: string, table: string, dialect: Dialect): string =>
  renderColumnsIn(dialect.icebergCatalog, database, table);

/**
 * Each source table's newest snapshot that changed data (compaction's `replace` snapshots rewrite files, not rows),
 * in one query: `source`, `snapshot` (NULL for a table with no data written yet).
 */
export function renderSourceVersions(tables: readonly string[], dialect: Dialect): string {
  return tables
    .map((table) => {
      const [database, name] = table.split('.');
      return (
        `SELECT ${quoteString(table)} AS source, CAST(max_by(snapshot_id, committed_at) AS varchar) AS snapshot ` +
        `FROM ${dialect.relation(database, `${name}$snapshots`)} WHERE operation <> 'replace'`
      );
    })
    .join('\nUNION ALL\n');
}
