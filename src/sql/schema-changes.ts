import type { Column, ColumnType, TableDefinition } from '../config/schema';
import { formatOf } from '../formats/registry';
import { dmlType, STAGING_SUFFIX, type Dialect } from './dialect';
import { renderColumnsIn } from './catalog';
import { backtick, quoteIdent } from './identifiers';

/** A schema change Iceberg cannot make in place, or one that would misread positional files: no retry changes it. */
export class SchemaChangeRefused extends Error {
  override name = 'SchemaChangeRefused';
}

/** A column as the engine's information_schema reports it. */
export interface ExistingColumn {
  name: string;
  type: string;
}

/** The catalog's view of a table's columns (target or staging), for renderSchemaChanges. */
export function renderColumnsQuery(def: TableDefinition, dialect: Dialect, table: 'target' | 'staging'): string {
  const [catalog] = (table === 'target' ? dialect.target(def) : dialect.staging(def)).split('.');
  return renderColumnsIn(catalog, def.database, table === 'target' ? def.table : def.table + STAGING_SUFFIX);
}

/** Engine type names (Trino's or Athena's) in the definition's words. */
const normalize = (type: string): string => {
  const t = type.toLowerCase().replace(/\s+/g, '');
  if (t === 'integer') return 'int';
  if (t === 'varchar' || t === 'string' || t.startsWith('varchar(')) return 'string';
  if (t.startsWith('timestamp')) return 'timestamp';
  return t;
};

/** The widenings Iceberg allows among icetide's types: int → bigint, and a larger decimal precision at the same scale. */
function widens(from: string, to: ColumnType): boolean {
  if (from === 'int' && to === 'bigint') return true;
  const a = /^decimal\((\d+),(\d+)\)$/.exec(from);
  const b = /^decimal\((\d+),(\d+)\)$/.exec(to.replace(/\s+/g, ''));
  return !!a && !!b && a[2] === b[2] && Number(b[1]) > Number(a[1]);
}

/**
 * The ALTER statements that bring an existing table to its definition without rewriting data: columns added to the
 * definition are added to the Iceberg table (and, for a positional format, appended to the staging table), and a
 * widened type is widened, in the staging table too where its columns are typed (Parquet: created again). Anything else is refused, naming the table and the column; a column the definition no
 * longer has is left in the table (icetide never drops data) and leaves the current view.
 */
export function renderSchemaChanges(
  def: TableDefinition,
  dialect: Dialect,
  existing: { target: ExistingColumn[]; staging: ExistingColumn[] },
): string[] {
  const table = `table ${def.database}.${def.table}`;
  const current = new Map(existing.target.map((c) => [c.name, normalize(c.type)]));
  const statements: string[] = [];
  for (const column of def.columns) {
    const type = current.get(column.name);
    if (type === undefined) statements.push(addColumn(def, dialect, 'target', column.name, column.type));
    else if (type !== normalize(column.type)) {
      if (!widens(type, column.type)) {
        throw new SchemaChangeRefused(
          `${table}: column ${column.name} is ${type} in the table and ${column.type} in the definition: Iceberg changes a type ` +
            'in place only from int to bigint or to a larger decimal precision; add a new column instead',
        );
      }
      statements.push(widenColumn(def, dialect, column));
    }
  }
  const format = formatOf(def);
  const wanted = format.stagingColumns?.(def) ?? [];
  const staged = new Set(existing.staging.map((c) => c.name.toLowerCase()));
  const missing = wanted.filter((c) => !staged.has(c.name.toLowerCase()));
  if (format.stagingByPosition && missing.length) {
    const firstMissing = wanted.indexOf(missing[0]);
    if (wanted.slice(firstMissing).some((c) => staged.has(c.name.toLowerCase()))) {
      throw new SchemaChangeRefused(
        `${table}: column ${missing[0].name} is new but not last: the source appends new columns to the end of each row; add it last`,
      );
    }
  }
  // A typed staging column (Parquet) is widened with the target: files written after the change carry the wider type,
  // which the narrower column cannot read. Trino's Hive connector cannot change a column's type, so the staging table
  // (external: dropping it keeps its files) is created again from the definition, added columns included.
  const stagedTypes = new Map(existing.staging.map((c) => [c.name.toLowerCase(), normalize(c.type)]));
  const narrower = wanted.some((c) => {
    const type = stagedTypes.get(c.name.toLowerCase());
    return type !== undefined && type !== normalize(c.type) && widens(type, c.type);
  });
  if (narrower) statements.push(dropStaging(def, dialect), format.stagingTable(def, dialect));
  else for (const c of missing) statements.push(addColumn(def, dialect, 'staging', c.name, c.type));
  return statements;
}

const dropStaging = (def: TableDefinition, dialect: Dialect): string =>
  `DROP TABLE IF EXISTS ${dialect.kind === 'trino' ? dialect.staging(def) : `${backtick(def.database)}.${backtick(def.table + STAGING_SUFFIX)}`}`;

function addColumn(def: TableDefinition, dialect: Dialect, table: 'target' | 'staging', name: string, type: ColumnType): string {
  if (dialect.kind === 'trino') {
    return `ALTER TABLE ${table === 'target' ? dialect.target(def) : dialect.staging(def)} ADD COLUMN ${quoteIdent(name)} ${dmlType(type)}`;
  }
  const tableName = `${backtick(def.database)}.${backtick(table === 'target' ? def.table : def.table + STAGING_SUFFIX)}`;
  return `ALTER TABLE ${tableName} ADD COLUMNS (${backtick(name)} ${dialect.ddlType(type)})`;
}

function widenColumn(def: TableDefinition, dialect: Dialect, column: Column): string {
  return dialect.kind === 'trino'
    ? `ALTER TABLE ${dialect.target(def)} ALTER COLUMN ${quoteIdent(column.name)} SET DATA TYPE ${dmlType(column.type)}`
    : `ALTER TABLE ${backtick(def.database)}.${backtick(def.table)} CHANGE COLUMN ${backtick(column.name)} ${backtick(column.name)} ${dialect.ddlType(column.type)}`;
}
