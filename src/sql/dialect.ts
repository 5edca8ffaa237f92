import type { ColumnType, TableDefinition } from '../config/schema';
import { hiveString, qualify, quoteString } from './identifiers';

/**
 * Where Athena and Trino differ in the SQL icetide renders. DML (MERGE, SELECT) is the same Trino SQL on both:
 * Athena engine v3 is Trino. DDL differs: Athena creates tables with Hive DDL and TBLPROPERTIES.
 */
export interface Dialect {
  readonly kind: 'trino' | 'athena';
  /** The Iceberg target. */
  target(def: TableDefinition): string;
  /** The external table over the raw change files. */
  staging(def: TableDefinition): string;
  /** The view readers use in tombstone mode: live rows only. */
  currentView(def: TableDefinition): string;
  /** An Iceberg metadata table of the target, e.g. `files` → "t$files". */
  metadataTable(def: TableDefinition, kind: 'files' | 'snapshots'): string;
  /** A model's relation (table or view), or a table a model names. */
  relation(database: string, name: string): string;
  /** The Iceberg catalog, quoted: where schemas are created and information_schema is read. */
  readonly icebergCatalog: string;
  /** DDL type of a column in the CREATE TABLE of each kind of table. */
  ddlType(type: ColumnType): string;
  /** The longest statement the engine accepts, in bytes (Athena: 262,144; Trino: query.max-length, 1,000,000). */
  readonly maxStatementBytes: number;
  /** A string literal (a location, a property) in this dialect's CREATE TABLE / CREATE SCHEMA: Hive DDL on Athena. */
  ddlString(value: string): string;
}

/** Type a change-file value is cast to in DML (Trino's names; Athena v3 DML speaks the same). */
export function dmlType(type: ColumnType): string {
  switch (type) {
    case 'string':
      return 'varchar';
    case 'int':
      return 'integer';
    case 'timestamp':
      return 'timestamp(6)';
    default:
      return type; // bigint, double, boolean, date, decimal(p,s)
  }
}

export const STAGING_SUFFIX = '__cdc';
export const CURRENT_VIEW_SUFFIX = '_current';

export function trinoDialect(catalogs: { iceberg: string; hive: string } = { iceberg: 'iceberg', hive: 'hive' }): Dialect {
  return {
    kind: 'trino',
    target: (def) => qualify(catalogs.iceberg, def.database, def.table),
    staging: (def) => qualify(catalogs.hive, def.database, def.table + STAGING_SUFFIX),
    currentView: (def) => qualify(catalogs.iceberg, def.database, def.table + CURRENT_VIEW_SUFFIX),
    metadataTable: (def, kind) => qualify(catalogs.iceberg, def.database, `${def.table}$${kind}`),
    relation: (database, name) => qualify(catalogs.iceberg, database, name),
    icebergCatalog: qualify(catalogs.iceberg),
    ddlType: dmlType,
    maxStatementBytes: 1_000_000,
    ddlString: quoteString,
  };
}

export function athenaDialect(catalog = 'awsdatacatalog'): Dialect {
  return {
    kind: 'athena',
    target: (def) => qualify(catalog, def.database, def.table),
    staging: (def) => qualify(catalog, def.database, def.table + STAGING_SUFFIX),
    currentView: (def) => qualify(catalog, def.database, def.table + CURRENT_VIEW_SUFFIX),
    metadataTable: (def, kind) => qualify(catalog, def.database, `${def.table}$${kind}`),
    relation: (database, name) => qualify(catalog, database, name),
    icebergCatalog: qualify(catalog),
    // Athena's CREATE TABLE takes Hive type names.
    ddlType: (type) => (type === 'string' ? 'string' : type === 'timestamp' ? 'timestamp' : type),
    maxStatementBytes: 262_144,
    ddlString: hiveString,
  };
}
