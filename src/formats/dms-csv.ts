import { pipeline } from 'node:stream';
import { parse } from 'csv-parse';
import {
  asStream,
  FileCheckRecorder,
  isBadContent,
  type ChangeSource,
  isTimestamp,
  textValueOk,
  type FileCheck,
} from '../changes/validate';
import type { Column, TableDefinition } from '../config/schema';
import { dmlType, STAGING_SUFFIX } from '../sql/dialect';
import { backtick, quoteIdent, quoteString } from '../sql/identifiers';
import { dmsStagingFields, renderDmsChanges } from './dms';
import type { ChangeFormat } from './format';

/**
 * AWS DMS CSV (optionally gzip): no header; the DMS fields (dms.ts) by position, every value as text, NULL as the
 * table's null value.
 */
export const dmsCsv: ChangeFormat = {
  isChangeFile: (name) => /\.csv(\.gz)?$/.test(name),

  stagingColumns: (def) => dmsStagingFields(def).map((name) => ({ name, type: 'string' })),
  stagingByPosition: true,

  stagingTable(def, dialect) {
    // Every field is read as text; the MERGE casts, so a bad value fails loudly instead of reading as NULL.
    const fields = (type: string, quote: (n: string) => string) =>
      dmsStagingFields(def)
        .map((name) => `${quote(name)} ${type}`)
        .join(', ');
    return dialect.kind === 'trino'
      ? `CREATE TABLE IF NOT EXISTS ${dialect.staging(def)} (${fields('varchar', quoteIdent)}) ` +
          `WITH (external_location = ${quoteString(def.staging.location)}, format = 'CSV')`
      : `CREATE EXTERNAL TABLE IF NOT EXISTS ${backtick(def.database)}.${backtick(def.table + STAGING_SUFFIX)} (${fields('string', backtick)}) ` +
          `ROW FORMAT SERDE 'org.apache.hadoop.hive.serde2.OpenCSVSerde' LOCATION ${quoteString(def.staging.location)}`;
  },

  changes(def, dialect, { files }) {
    const text = (c: Column) => quoteIdent(c.name);
    const value = (c: Column) => `CAST(NULLIF(${text(c)}, ${quoteString(def.staging.nullValue)}) AS ${dmlType(c.type)})`;
    return renderDmsChanges(def, dialect, files, { value, text });
  },

  check: checkCsv,
};

async function checkCsv(
  def: TableDefinition,
  uri: string,
  source: ChangeSource,
  options: ConstructorParameters<typeof FileCheckRecorder>[2],
): Promise<FileCheck> {
  const recorder = new FileCheckRecorder(def, uri, options);
  // Streamed: memory holds one record at a time, whatever the file's size.
  const records = parse({ relax_column_count: true, info: true, raw: true, skip_empty_lines: true });
  pipeline(asStream(source), records, () => undefined);
  try {
    for await (const { record, info, raw } of records as AsyncIterable<{ record: string[]; info: { lines: number }; raw: string }>) {
      const line = raw.indexOf('\n') === raw.length - 1 ? info.lines : firstLineOf(raw, info.lines);
      recorder.row();
      checkRecord(def, recorder, record, line);
    }
  } catch (err) {
    if (!isBadContent(err)) throw err;
    return recorder.unreadable((err as { lines?: number }).lines ?? 0, `not a CSV change file: ${(err as Error).message}`);
  }
  return recorder.result();
}

/**
 * The line a record starts on: info.lines is where it ends, a quoted field may span lines, and raw also holds the
 * blank lines skipped before it. (The common one-line record takes the fast path above.)
 */
const firstLineOf = (raw: string, endLine: number): number =>
  endLine -
  (raw
    .replace(/^(\r?\n)+/, '')
    .replace(/\r?\n$/, '')
    .split('\n').length -
    1);

function checkRecord(def: TableDefinition, recorder: FileCheckRecorder, record: string[], line: number): void {
  const report = (problem: string) => recorder.report(line, problem);
  const expectedFields = 2 + def.columns.length;
  const firstAdded = def.columns.findIndex((c) => c.added);
  // Files written before the source gained its added columns lack them: they read as NULL.
  const fewestFields = 2 + (firstAdded >= 0 ? firstAdded : def.columns.length);
  const names = `Op, ${def.ordering.commitTimestamp}, ${def.columns.map((c) => c.name).join(', ')}`;
  if (record.length > expectedFields) {
    report(
      `found ${record.length} fields, the definition has ${expectedFields} (${names}): the source has gained a column; ` +
        'add it last to columns with added: true, run apply, then merge again',
    );
    return;
  }
  if (record.length < fewestFields) {
    report(
      `expected ${fewestFields === expectedFields ? expectedFields : `${fewestFields} to ${expectedFields}`} fields (${names}), found ${record.length}`,
    );
    return;
  }
  const [op, commitTs, ...values] = record;
  if (op !== 'I' && op !== 'U' && op !== 'D') report(`unknown Op '${op}' (expected I, U or D)`);
  else recorder.operation(line, op);
  if (!isTimestamp(commitTs)) report(`commit timestamp '${commitTs}' is not yyyy-MM-dd HH:mm:ss[.ffffff]`);
  else recorder.commitTime(line, commitTs);
  def.columns.forEach((column, i) => {
    if (i >= values.length) return; // an added column the file predates
    const value = values[i];
    if (column.name === def.primaryKey[0]) recorder.firstKey(value);
    if (value === def.staging.nullValue) {
      if (def.primaryKey.includes(column.name)) report(`primary key column ${column.name} is null`);
      return;
    }
    if (!textValueOk(column.type, value)) report(`column ${column.name}: '${value}' is not a ${column.type}`);
  });
  if (def.ordering.sequence) {
    const index = def.columns.findIndex((c) => c.name === def.ordering.sequence);
    if (def.columns[index].type !== 'string' && !/^\d+$/.test(values[index])) {
      report(`sequence column ${def.ordering.sequence}: '${values[index]}' is not a non-negative integer`);
    }
  }
}
