import { pipeline, type Readable } from 'node:stream';
import { parse } from 'csv-parse';
import {
  asStream,
  FileCheckRecorder,
  isBadContent,
  type ChangeSource,
  type CheckOptions,
  isTimestamp,
  textValueProblem,
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
          `WITH (external_location = ${dialect.ddlString(def.staging.location)}, format = 'CSV')`
      : `CREATE EXTERNAL TABLE IF NOT EXISTS ${backtick(def.database)}.${backtick(def.table + STAGING_SUFFIX)} (${fields('string', backtick)}) ` +
          `ROW FORMAT SERDE 'org.apache.hadoop.hive.serde2.OpenCSVSerde' LOCATION ${dialect.ddlString(def.staging.location)}`;
  },

  malformed(def) {
    // A field the row lacks reads as NULL (a field left empty reads as ''): rows short of the fields every file has.
    const fields = dmsStagingFields(def);
    const firstAdded = def.columns.findIndex((c) => c.added);
    const required = firstAdded >= 0 ? 2 + firstAdded : fields.length;
    return {
      predicate: `${quoteIdent(fields[required - 1])} IS NULL`,
      problem: `row(s) with fewer fields than the definition has (${fields.slice(0, required).join(', ')})`,
    };
  },

  changes(def, dialect, { files }, mode) {
    const text = (c: Column) => quoteIdent(c.name);
    const given = (c: Column) => `NULLIF(${text(c)}, ${quoteString(def.staging.nullValue)})`;
    const value = (c: Column) => `CAST(${given(c)} AS ${dmlType(c.type)})`;
    return renderDmsChanges(def, dialect, files, { given, value, text }, mode);
  },

  async blindSpot(def, head) {
    // Only the first record: a source that gained a column writes every later row one field wider.
    const records = parse({ relax_column_count: true, skip_empty_lines: true, to_line: 1 });
    pipeline(head, records, () => undefined);
    try {
      for await (const record of records as AsyncIterable<string[]>) return record.length > dmsStagingFields(def).length;
    } catch (err) {
      if (!isBadContent(err)) throw err;
    } finally {
      records.destroy();
      head.destroy();
    }
    return false;
  },

  check: checkCsv,
};

/**
 * Two passes, both streamed (memory holds one record, whatever the file's size): the first checks every record
 * without locating it, which parses about twice as fast; only a file with problems is read again, to find the line
 * each reported record starts on (a quoted field may span lines, blank lines are skipped).
 */
async function checkCsv(def: TableDefinition, uri: string, source: ChangeSource, options: CheckOptions): Promise<FileCheck> {
  const recorder = new FileCheckRecorder(def, uri, options);
  const records = parse({ relax_column_count: true, skip_empty_lines: true });
  pipeline(asStream(source), records, () => undefined);
  let result: FileCheck;
  let located = 0; // problems at the end that already carry a line
  try {
    let n = 0;
    for await (const record of records as AsyncIterable<string[]>) {
      recorder.row();
      checkRecord(def, recorder, record, ++n);
    }
    result = recorder.result();
  } catch (err) {
    if (!isBadContent(err)) throw err;
    // The parser's message quotes the text it choked on: its code says what went wrong.
    result = recorder.unreadable((err as { lines?: number }).lines ?? 0, `not a CSV change file (${(err as { code: string }).code})`);
    located = 1;
  }
  const numbered = result.problems.slice(0, result.problems.length - located);
  if (numbered.length === 0) return result;
  const again = typeof source === 'string' ? source : options.open ? await options.open(uri) : undefined;
  if (again === undefined) return result; // no second read: problems keep their record numbers
  const lines = await recordLines(asStream(again), new Set(numbered.map((p) => p.line)));
  return {
    ...result,
    problems: [...numbered.map((p) => ({ ...p, line: lines.get(p.line) ?? p.line })), ...result.problems.slice(numbered.length)],
  };
}

/** The first line of each wanted record (by its number), reading no further than the last one wanted. */
async function recordLines(source: Readable, wanted: Set<number>): Promise<Map<number, number>> {
  const lines = new Map<number, number>();
  const records = parse({ relax_column_count: true, info: true, raw: true, skip_empty_lines: true });
  pipeline(source, records, () => undefined);
  const last = Math.max(...wanted);
  let n = 0;
  try {
    for await (const { info, raw } of records as AsyncIterable<{ info: { lines: number }; raw: string }>) {
      if (wanted.has(++n)) lines.set(n, raw.indexOf('\n') === raw.length - 1 ? info.lines : firstLineOf(raw, info.lines));
      if (n >= last) break;
    }
  } catch (err) {
    if (!isBadContent(err)) throw err;
  } finally {
    records.destroy();
  }
  return lines;
}

/**
 * The line a record starts on: info.lines is where it ends, a quoted field may span lines, and raw also holds the
 * blank lines skipped before it. (The common one-line record takes the fast path in recordLines.)
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
  if (op !== 'I' && op !== 'U' && op !== 'D') report('Op is not I, U or D');
  else recorder.operation(line, op);
  if (!isTimestamp(commitTs)) report('commit timestamp is not yyyy-MM-dd HH:mm:ss[.ffffff]');
  else recorder.commitTime(line, commitTs);
  def.columns.forEach((column, i) => {
    if (i >= values.length) return; // an added column the file predates
    const value = values[i];
    if (column.name === def.primaryKey[0]) recorder.firstKey(value);
    if (value === def.staging.nullValue) {
      if (def.primaryKey.includes(column.name)) report(`primary key column ${column.name} is null`);
      return;
    }
    const problem = textValueProblem(column.type, value);
    if (problem) report(`column ${column.name}: ${problem}`);
  });
  if (def.ordering.sequence) {
    const index = def.columns.findIndex((c) => c.name === def.ordering.sequence);
    if (def.columns[index].type !== 'string' && !/^\d+$/.test(values[index])) {
      report(`sequence column ${def.ordering.sequence} is not a non-negative integer`);
    }
  }
}
