import { StringDecoder } from 'node:string_decoder';
import { Readable } from 'node:stream';
import {
  aType,
  asStream,
  FileCheckRecorder,
  isBadContent,
  type ChangeSource,
  isDate,
  isInteger,
  textValueProblem,
  type CheckOptions,
  type FileCheck,
} from '../changes/validate';
import type { Column, ColumnType, TableDefinition } from '../config/schema';
import { dmlType, STAGING_SUFFIX, type Dialect } from '../sql/dialect';
import { backtick, quoteIdent, quoteString } from '../sql/identifiers';
import { PATH_COLUMN } from '../sql/metadata';
import type { ChangesMode } from '../sql/changes';

/**
 * What the JSON-lines formats (Debezium, DynamoDB Streams) share: one record per line, read by the engine as a
 * one-column text table and taken apart with JSON functions in the MERGE; and the mapping of JSON values to column
 * types, written twice side by side (the SQL and the worker's check), so the check accepts exactly what the SQL
 * converts.
 */

export const isJsonLinesFile = (name: string): boolean => /\.(json|jsonl|ndjson)(\.gz)?$/.test(name);

/** The staging table: each line one value. JSON escapes control characters, so the text format's \001 field separator never splits a line. */
export function jsonLinesStagingTable(def: TableDefinition, dialect: Dialect): string {
  return dialect.kind === 'trino'
    ? `CREATE TABLE IF NOT EXISTS ${dialect.staging(def)} (line varchar) WITH (external_location = ${dialect.ddlString(def.staging.location)}, format = 'TEXTFILE')`
    : `CREATE EXTERNAL TABLE IF NOT EXISTS ${backtick(def.database)}.${backtick(def.table + STAGING_SUFFIX)} (line string) ` +
        `STORED AS TEXTFILE LOCATION ${dialect.ddlString(def.staging.location)}`;
}

/**
 * Records of the files `pathFilter` selects as JSON values `j`, with their file; blank lines are skipped, as the
 * check skips them. A check skips lines that are not JSON too: the file accounting counts them (malformedRecords).
 */
export const jsonRecords = (def: TableDefinition, dialect: Dialect, pathFilter: string, mode: ChangesMode): string =>
  mode === 'check'
    ? `SELECT "$path" AS ${quoteIdent(PATH_COLUMN)}, try(json_parse(line)) AS j FROM ${dialect.staging(def)} WHERE ${pathFilter} AND try(json_parse(line)) IS NOT NULL`
    : `SELECT "$path" AS ${quoteIdent(PATH_COLUMN)}, json_parse(line) AS j FROM ${dialect.staging(def)} WHERE ${pathFilter} AND trim(line) <> ''`;

/** Lines the engine cannot parse as JSON (a blank line is no record). */
export const jsonLinesMalformed = { predicate: `trim(line) <> '' AND try(json_parse(line)) IS NULL`, problem: 'line(s) that are not JSON' };

/** A JSON path of object members, each quoted, so any field name is addressed literally. */
export const jsonPath = (...members: string[]): string => `$${members.map((m) => `["${m}"]`).join('')}`;

/** The field a column is read from in a record. */
export const fieldOf = (column: Column): string => column.field ?? column.name;

/** SQL: the text of the JSON value at `path` in `json`; objects and arrays as JSON text when `structures`, else NULL. */
export function jsonText(json: string, path: string, structures = false): string {
  const scalar = `json_extract_scalar(${json}, ${quoteString(path)})`;
  return structures ? `coalesce(${scalar}, nullif(json_format(json_extract(${json}, ${quoteString(path)})), 'null'))` : scalar;
}

/** How an integer stands for a point in time in a format: Debezium's MicroTimestamp, or epoch seconds. */
export type EpochUnit = 'micros' | 'seconds';
const EPOCH_NANOS: Record<EpochUnit, number> = { micros: 1_000, seconds: 1_000_000_000 };

const INTEGER_TEXT = '^-?[0-9]+$';
const HAS_ZONE = '(Z|[+-][0-9]{2}(:?[0-9]{2})?)$';

/**
 * SQL: JSON value text (from jsonText) as the column's type. Integers in date columns are days since 1970-01-01;
 * in timestamp columns, epoch `unit`s; timestamp text is ISO-8601 (UTC when it names no zone).
 */
export function castJsonText(text: string, type: ColumnType, unit: EpochUnit): string {
  const isInt = `regexp_like(${text}, '${INTEGER_TEXT}')`;
  switch (type) {
    case 'bigint':
    case 'int':
      // Through a decimal, so a JSON integer written with an exponent (1.0E2) converts exactly.
      return `CAST(CAST(${text} AS decimal(38, 9)) AS ${dmlType(type)})`;
    case 'date':
      return `CASE WHEN ${isInt} THEN date_add('day', CAST(${text} AS bigint), DATE '1970-01-01') ELSE CAST(${text} AS date) END`;
    case 'timestamp': {
      const zoned = `CASE WHEN regexp_like(${text}, '${HAS_ZONE}') THEN ${text} ELSE ${text} || 'Z' END`;
      return (
        `CASE WHEN ${isInt} THEN CAST(from_unixtime_nanos(CAST(${text} AS bigint) * ${EPOCH_NANOS[unit]}) AT TIME ZONE 'UTC' AS timestamp(6)) ` +
        `ELSE CAST(from_iso8601_timestamp_nanos(${zoned}) AT TIME ZONE 'UTC' AS timestamp(6)) END`
      );
    }
    default:
      return `CAST(${text} AS ${dmlType(type)})`;
  }
}

const ISO_TIMESTAMP = /^(\d{4}-\d{2}-\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-]\d{2}(:?\d{2})?)?$/;
const isIsoTimestamp = (v: string): boolean => {
  const m = ISO_TIMESTAMP.exec(v);
  return !!m && isDate(m[1]) && Number(m[2]) < 24 && Number(m[3]) < 60 && Number(m[4] ?? 0) < 60;
};
/** Epoch values whose nanoseconds stay inside a bigint (years 1678–2261). */
const MAX_EPOCH_NANOS = 9_000_000_000_000_000_000;
const DECIMAL = /^decimal\((\d+),\s*(\d+)\)$/;

/**
 * Why a JSON value (a string, number, boolean, or an object/array when the format keeps structures as text) cannot
 * be the column's type, or undefined when castJsonText converts it.
 */
export function jsonValueProblem(type: ColumnType, value: unknown, unit: EpochUnit): string | undefined {
  if (value === null || value === undefined || type === 'string') return undefined;
  if (typeof value === 'object') return `a JSON ${Array.isArray(value) ? 'array' : 'object'} is not a ${type}`;
  if (typeof value === 'boolean') return type === 'boolean' ? undefined : `a JSON boolean is not ${aType(type)}`;
  if (typeof value === 'number') return numberProblem(type, value, unit);
  const text = String(value);
  if ((type === 'date' || type === 'timestamp') && /^-?\d+$/.test(text)) return numberProblem(type, Number(text), unit);
  if (type === 'timestamp') return isIsoTimestamp(text) ? undefined : 'not an ISO-8601 timestamp';
  return textValueProblem(type, text);
}

function numberProblem(type: ColumnType, value: number, unit: EpochUnit): string | undefined {
  const bad = Number.isInteger(value) ? `value does not fit ${type}` : `not ${aType(type)}`;
  const decimal = DECIMAL.exec(type);
  if (decimal) return Math.abs(value) < 10 ** (Number(decimal[1]) - Number(decimal[2])) ? undefined : `value does not fit ${type}`;
  switch (type) {
    case 'double':
      return undefined;
    case 'bigint':
      return Number.isInteger(value) && Math.abs(value) <= 2 ** 63 ? undefined : bad;
    case 'int':
      return Number.isInteger(value) && isInteger(String(value)) && Math.abs(value) < 2 ** 31 ? undefined : bad;
    case 'date':
      return Number.isInteger(value) && Math.abs(value) < 3_000_000 ? undefined : 'not a date (days since 1970-01-01)';
    case 'timestamp':
      return Number.isInteger(value) && Math.abs(value * EPOCH_NANOS[unit]) < MAX_EPOCH_NANOS
        ? undefined
        : `not a timestamp (epoch ${unit})`;
    default:
      return bad;
  }
}

/** A record's position in its file, for a problem. */
export type LineReport = (problem: string) => void;

/**
 * Reads a JSON-lines file streamed, line by line (lines end at \n, \r\n or \r, as the engines' text reader splits
 * them); calls `record` with each parsed non-blank line. A line that is not JSON is reported; the file goes on.
 */
export async function checkJsonLines(
  def: TableDefinition,
  uri: string,
  source: ChangeSource,
  options: CheckOptions,
  record: (value: unknown, recorder: FileCheckRecorder, line: number) => void,
): Promise<FileCheck> {
  const recorder = new FileCheckRecorder(def, uri, options);
  const unreadable = await readJsonLines(source, recorder, record);
  return unreadable ? recorder.unreadable(unreadable.line, unreadable.problem) : recorder.result();
}

/** Reads JSON lines into a recorder shared by several files; returns why a file could not be read to its end. */
export async function readJsonLines(
  source: ChangeSource,
  recorder: FileCheckRecorder,
  record: (value: unknown, recorder: FileCheckRecorder, line: number) => void,
): Promise<{ line: number; problem: string } | undefined> {
  let lineNo = 0;
  try {
    for await (const text of lines(asStream(source))) {
      lineNo++;
      if (text.trim() === '') continue;
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch {
        recorder.report(lineNo, 'not JSON'); // the parser's message would quote the line
        continue;
      }
      record(value, recorder, lineNo);
    }
  } catch (err) {
    if (!isBadContent(err)) throw err;
    return { line: lineNo, problem: `not a readable change file: ${(err as Error).message}` };
  }
  return undefined;
}

async function* lines(source: Readable): AsyncGenerator<string> {
  const decoder = new StringDecoder('utf8');
  const split = (text: string) => text.split(/\r\n|\n|\r/);
  let rest = '';
  for await (const chunk of source) {
    let text = rest + decoder.write(chunk as Buffer);
    // A trailing \r may be the first half of \r\n: hold it back for the next chunk.
    const held = text.endsWith('\r') ? '\r' : '';
    if (held) text = text.slice(0, -1);
    const parts = split(text);
    rest = (parts.pop() ?? '') + held;
    yield* parts;
  }
  const tail = split(rest + decoder.end());
  if (tail.at(-1) === '') tail.pop();
  yield* tail;
}
