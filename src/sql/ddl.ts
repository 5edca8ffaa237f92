import type { TableDefinition } from '../config/schema';
import { formatOf } from '../formats/registry';
import { dmlType, type Dialect } from './dialect';
import { backtick, quoteIdent } from './identifiers';
import { COMMIT_TS_COLUMN, DELETED_COLUMN, VERSION_COLUMN } from './metadata';

/**
 * Idempotent DDL (IF NOT EXISTS) for one table: the staging table over the change files (its shape is the format's)
 * and the Iceberg target. Statements run in order; re-running changes nothing. The `_current` view comes after any
 * schema change (renderCurrentView), since it names the definition's columns.
 */
export function renderTableDdl(def: TableDefinition, dialect: Dialect, opts: { warehouse?: string } = {}): string[] {
  return dialect.kind === 'trino' ? trinoDdl(def, dialect, opts.warehouse) : athenaDdl(def, dialect);
}

function targetColumns(
  def: TableDefinition,
  typeOf: (t: TableDefinition['columns'][number]['type']) => string,
  quote: (n: string) => string,
  tsType: string,
): string {
  return [
    ...def.columns.map((c) => `${quote(c.name)} ${typeOf(c.type)}`),
    `${quote(VERSION_COLUMN)} ${typeOf('string')}`,
    `${quote(COMMIT_TS_COLUMN)} ${tsType}`,
    `${quote(DELETED_COLUMN)} boolean`,
  ].join(', ');
}

/** The view readers use: live rows, the definition's columns. Re-run after a schema change to show added columns. */
export function renderCurrentView(def: TableDefinition, dialect: Dialect): string {
  const columns = def.columns.map((c) => quoteIdent(c.name)).join(', ');
  return `CREATE OR REPLACE VIEW ${dialect.currentView(def)} AS SELECT ${columns} FROM ${dialect.target(def)} WHERE NOT ${quoteIdent(DELETED_COLUMN)}`;
}

/** The schema (Trino, in the Iceberg catalog, under the warehouse) or database (Athena) tables and models live in. */
export function renderCreateSchema(database: string, dialect: Dialect, warehouse?: string): string {
  if (dialect.kind === 'athena') return `CREATE DATABASE IF NOT EXISTS ${backtick(database)}`;
  const location = warehouse ? ` WITH (location = ${dialect.ddlString(`${warehouse.replace(/\/$/, '')}/${database}/`)})` : '';
  return `CREATE SCHEMA IF NOT EXISTS ${dialect.icebergCatalog}.${quoteIdent(database)}${location}`;
}

function trinoDdl(def: TableDefinition, dialect: Dialect, warehouse?: string): string[] {
  const [hiveCatalog] = dialect.staging(def).split('.');
  const properties = [`format = 'PARQUET'`];
  if (def.partitioning.length) properties.push(`partitioning = ARRAY[${def.partitioning.map(dialect.ddlString).join(', ')}]`);
  if (def.location) properties.push(`location = ${dialect.ddlString(def.location)}`);
  return [
    renderCreateSchema(def.database, dialect, warehouse),
    `CREATE SCHEMA IF NOT EXISTS ${hiveCatalog}.${quoteIdent(def.database)}`,
    formatOf(def).stagingTable(def, dialect),
    `CREATE TABLE IF NOT EXISTS ${dialect.target(def)} (${targetColumns(def, dmlType, quoteIdent, 'timestamp(6)')}) ` +
      `WITH (${properties.join(', ')})`,
  ];
}

/** Athena's transforms put the width first: bucket(16, id), truncate(1000, id) where Trino writes bucket(id, 16). */
export function athenaPartitionSpec(spec: string): string {
  const withWidth = /^(bucket|truncate)\(([a-z_][a-z0-9_]*),\s*(\d+)\)$/.exec(spec);
  return withWidth
    ? `${withWidth[1]}(${withWidth[3]}, ${backtick(withWidth[2])})`
    : spec.replace(/\(([a-z_][a-z0-9_]*)\)/, (_, c: string) => `(${backtick(c)})`);
}

function athenaDdl(def: TableDefinition, dialect: Dialect): string[] {
  if (!def.location) throw new Error(`table ${def.database}.${def.table}: Athena needs a location for the Iceberg table`);
  const db = backtick(def.database);
  const partitioned = def.partitioning.length
    ? ` PARTITIONED BY (${def.partitioning.map((s) => (/\(/.test(s) ? athenaPartitionSpec(s) : backtick(s))).join(', ')})`
    : '';
  return [
    renderCreateSchema(def.database, dialect),
    formatOf(def).stagingTable(def, dialect),
    `CREATE TABLE IF NOT EXISTS ${db}.${backtick(def.table)} (${targetColumns(def, dialect.ddlType, backtick, 'timestamp')})` +
      `${partitioned} LOCATION ${dialect.ddlString(def.location)} ` +
      `TBLPROPERTIES ('table_type' = 'ICEBERG', 'format' = 'parquet', 'write_compression' = 'zstd')`,
  ];
}
