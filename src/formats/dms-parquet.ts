import { parquetMetadataAsync, parquetReadObjects, type FileMetaData, type SchemaElement } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import {
  FileCheckRecorder,
  isTimestamp,
  type ChangeSource,
  type CheckOptions,
  type FileCheck,
  type RangeSource,
} from '../changes/validate';
import type { Column, ColumnType, TableDefinition } from '../config/schema';
import { dmlType, STAGING_SUFFIX } from '../sql/dialect';
import { backtick, quoteIdent } from '../sql/identifiers';
import { FILE_OP_COLUMN } from '../sql/metadata';
import { dmsStagingFields, renderDmsChanges } from './dms';
import type { ChangeFormat } from './format';

/**
 * AWS DMS Parquet: the DMS fields (dms.ts) as typed Parquet columns, read by name (case-insensitively, as the engines
 * do): `Op` and the timestamp column are text, the row's columns carry their types. Checked by byte ranges: the
 * footer first (the file's columns and types against the definition), then only the columns the batch depends on
 * (Op, commit time, keys, sequence), one row group at a time.
 */
export const dmsParquet: ChangeFormat = {
  isChangeFile: (name) => name.endsWith('.parquet'),
  readsRanges: true,
  stagingColumns: (def) => [
    { name: FILE_OP_COLUMN, type: 'string' },
    { name: def.ordering.commitTimestamp, type: 'string' },
    ...def.columns.map((c) => ({ name: c.name, type: c.type })),
  ],

  stagingTable(def, dialect) {
    // Trino's Hive catalog must read timestamps at microseconds (hive.timestamp-precision=MICROSECONDS), as DMS writes them.
    const hiveType = (type: ColumnType) => (dialect.kind === 'trino' ? dmlType(type) : dialect.ddlType(type));
    const text = dialect.kind === 'trino' ? 'varchar' : 'string';
    const quote = dialect.kind === 'trino' ? quoteIdent : backtick;
    const fields = [
      `${quote(FILE_OP_COLUMN)} ${text}`,
      `${quote(def.ordering.commitTimestamp)} ${text}`,
      ...def.columns.map((c) => `${quote(c.name)} ${hiveType(c.type)}`),
    ].join(', ');
    return dialect.kind === 'trino'
      ? `CREATE TABLE IF NOT EXISTS ${dialect.staging(def)} (${fields}) WITH (external_location = ${dialect.ddlString(def.staging.location)}, format = 'PARQUET')`
      : `CREATE EXTERNAL TABLE IF NOT EXISTS ${backtick(def.database)}.${backtick(def.table + STAGING_SUFFIX)} (${fields}) STORED AS PARQUET LOCATION ${dialect.ddlString(def.staging.location)}`;
  },

  changes(def, dialect, { files }, mode) {
    const given = (c: Column) => quoteIdent(c.name);
    const value = (c: Column) => `CAST(${given(c)} AS ${dmlType(c.type)})`;
    const text = (c: Column) => `CAST(${given(c)} AS varchar)`;
    return renderDmsChanges(def, dialect, files, { given, value, text }, mode);
  },

  check: checkParquet,
};

/** The Parquet column types each definition type reads from (physical type, and the annotation if any). */
function readsAs(type: ColumnType, e: SchemaElement): boolean {
  const annotation = e.converted_type ?? (e.logical_type?.type as string | undefined);
  switch (type) {
    case 'string':
      return e.type === 'BYTE_ARRAY' && ['UTF8', 'STRING', 'JSON', 'ENUM'].includes(String(annotation));
    case 'bigint':
      return (e.type === 'INT64' || e.type === 'INT32') && (!annotation || /^(INT_|UINT_(8|16|32)|INTEGER)/.test(String(annotation)));
    case 'int':
      return e.type === 'INT32' && (!annotation || /^(INT_(8|16|32)|UINT_(8|16)|INTEGER)/.test(String(annotation)));
    case 'double':
      return e.type === 'DOUBLE' || e.type === 'FLOAT';
    case 'boolean':
      return e.type === 'BOOLEAN';
    case 'date':
      return e.type === 'INT32' && annotation === 'DATE';
    case 'timestamp':
      return e.type === 'INT96' || (e.type === 'INT64' && /^TIMESTAMP/.test(String(annotation)));
    default: {
      const [, precision, scale] = /^decimal\((\d+),\s*(\d+)\)$/.exec(type) ?? [];
      return annotation === 'DECIMAL' && e.scale === Number(scale) && (e.precision ?? 0) <= Number(precision);
    }
  }
}

const describe = (e: SchemaElement): string =>
  [e.type, e.converted_type ?? e.logical_type?.type, e.converted_type === 'DECIMAL' ? `(${e.precision},${e.scale})` : '']
    .filter(Boolean)
    .join(' ');

/** Errors of reading the file's bytes are the transport's (retried); anything the reader says of the bytes is the file's. */
class RangeReadError extends Error {}

function rangeSource(source: ChangeSource): RangeSource {
  if (typeof source === 'string') {
    const bytes = Buffer.from(source);
    return {
      byteLength: bytes.length,
      slice: async (s, e) => bytes.buffer.slice(bytes.byteOffset + s, bytes.byteOffset + (e ?? bytes.length)),
    };
  }
  if ('slice' in source && 'byteLength' in source) {
    return {
      byteLength: source.byteLength,
      slice: (s, e) =>
        source.slice(s, e).catch((err: unknown) => {
          throw Object.assign(new RangeReadError((err as Error).message), { cause: err });
        }),
    };
  }
  throw new Error('DMS Parquet is read by byte ranges, not as a stream');
}

async function checkParquet(def: TableDefinition, uri: string, source: ChangeSource, options: CheckOptions): Promise<FileCheck> {
  const recorder = new FileCheckRecorder(def, uri, options);
  const file = rangeSource(source);
  const badContent = (err: unknown) => {
    if (err instanceof RangeReadError) throw (err as Error & { cause: unknown }).cause;
    return recorder.unreadable(0, `not a readable Parquet file: ${(err as Error).message}`);
  };
  let metadata: FileMetaData;
  try {
    metadata = await parquetMetadataAsync(file);
  } catch (err) {
    return badContent(err);
  }
  const columns = schemaColumns(def, metadata, recorder);
  if (!columns || recorder.result().problems.length) return recorder.result();

  let rowStart = 0;
  for (const group of metadata.row_groups) {
    const rowEnd = rowStart + Number(group.num_rows);
    let rows: Record<string, unknown>[];
    try {
      rows = await parquetReadObjects({ file, metadata, columns: columns.read, rowStart, rowEnd, compressors });
    } catch (err) {
      return badContent(err);
    }
    rows.forEach((row, i) => checkRow(def, recorder, rowStart + i + 1, row, columns.names));
    rowStart = rowEnd;
  }
  return recorder.result();
}

interface ParquetColumns {
  /** The file's name of each field the check reads, by the definition's name. */
  names: Map<string, string>;
  read: string[];
}

/** Matches the file's columns to the definition (by name, case-insensitively) and checks their types. */
function schemaColumns(def: TableDefinition, metadata: FileMetaData, recorder: FileCheckRecorder): ParquetColumns | undefined {
  const report = (problem: string) => recorder.report(0, problem);
  const [, ...leaves] = metadata.schema;
  if (leaves.some((e) => e.num_children)) return void report('nested Parquet columns are not DMS change rows');
  const byName = new Map(leaves.map((e) => [e.name.toLowerCase(), e]));
  const names = new Map<string, string>();
  for (const field of [FILE_OP_COLUMN, def.ordering.commitTimestamp]) {
    const e = byName.get(field.toLowerCase());
    if (!e) report(`column ${field} is missing from the file`);
    else if (!readsAs('string', e)) report(`column ${field} is ${describe(e)} in the file, not text`);
    else names.set(field, e.name);
  }
  for (const column of def.columns) {
    const e = byName.get(column.name.toLowerCase());
    if (!e) {
      if (!column.added) report(`column ${column.name} is missing from the file`);
      continue;
    }
    if (!readsAs(column.type, e)) report(`column ${column.name} is ${describe(e)} in the file, the definition says ${column.type}`);
    names.set(column.name, e.name);
  }
  const expected = new Set(dmsStagingFields(def).map((n) => n.toLowerCase()));
  const extra = leaves.filter((e) => !expected.has(e.name.toLowerCase())).map((e) => e.name);
  if (extra.length) {
    report(
      `the file has columns the definition lacks (${extra.join(', ')}): the source has gained a column; add it last with added: true, run apply, then merge again`,
    );
  }
  const read = [FILE_OP_COLUMN, def.ordering.commitTimestamp, ...def.primaryKey, ...(def.ordering.sequence ? [def.ordering.sequence] : [])]
    .map((n) => names.get(n))
    .filter((n): n is string => !!n);
  return { names, read: [...new Set(read)] };
}

function checkRow(
  def: TableDefinition,
  recorder: FileCheckRecorder,
  row: number,
  values: Record<string, unknown>,
  names: Map<string, string>,
): void {
  const report = (problem: string) => recorder.report(row, problem);
  const get = (field: string) => values[names.get(field) ?? field];
  recorder.row();
  const op = get(FILE_OP_COLUMN);
  if (op !== 'I' && op !== 'U' && op !== 'D') report('Op is not I, U or D');
  else recorder.operation(row, op);
  const commitTs = get(def.ordering.commitTimestamp);
  if (typeof commitTs !== 'string' || !isTimestamp(commitTs)) report('commit timestamp is not yyyy-MM-dd HH:mm:ss[.ffffff]');
  else recorder.commitTime(row, commitTs);
  for (const key of def.primaryKey) {
    const value = get(key);
    if (value === null || value === undefined) report(`primary key column ${key} is null`);
    else if (key === def.primaryKey[0]) recorder.firstKey(typeof value === 'bigint' ? String(value) : value);
  }
  if (def.ordering.sequence) {
    const sequence = get(def.ordering.sequence);
    if (sequence === null || sequence === undefined) report(`sequence column ${def.ordering.sequence} is null`);
    else if (typeof sequence !== 'string' && !/^\d+$/.test(String(sequence))) {
      report(`sequence column ${def.ordering.sequence} is not a non-negative integer`);
    }
  }
}
