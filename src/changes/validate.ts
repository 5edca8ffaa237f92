import { Readable, pipeline } from 'node:stream';
import { parse } from 'csv-parse';
import type { ColumnType, TableDefinition } from '../config/schema';

export interface KeyRange {
  column: string;
  min: string;
  max: string;
}

/** The union of two key ranges of the same column (integers as decimal strings). */
export function widenKeyRange(a: KeyRange | undefined, b: KeyRange | undefined): KeyRange | undefined {
  if (!a || !b) return a ?? b;
  const min = BigInt(a.min) < BigInt(b.min) ? a.min : b.min;
  const max = BigInt(a.max) > BigInt(b.max) ? a.max : b.max;
  return { column: a.column, min, max };
}

/** What reading one change file found: enough to decide the batch and to name every bad row. */
export interface FileCheck {
  uri: string;
  rows: number;
  /** Newest commit time in the file, normalized to `yyyy-MM-dd HH:mm:ss.ffffff`. */
  maxCommitTs?: string;
  /** Smallest and largest value of the first key column, when it is an integer: lets the MERGE prune the target. */
  keyRange?: KeyRange;
  problems: { line: number; problem: string }[];
}

const TIMESTAMP = /^(\d{4}-\d{2}-\d{2}) (\d{2}):(\d{2}):(\d{2})(\.\d{1,6})?$/;

const inRange = (v: string, bits: 32 | 64): boolean =>
  /^-?\d+$/.test(v) && BigInt(v) >= -(2n ** BigInt(bits - 1)) && BigInt(v) < 2n ** BigInt(bits - 1);
const isDate = (v: string): boolean => {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(v);
  if (!match) return false;
  const [y, m, d] = match.slice(1).map(Number);
  const date = new Date(Date.UTC(y, m - 1, d));
  return date.getUTCFullYear() === y && date.getUTCMonth() === m - 1 && date.getUTCDate() === d;
};
const isTimestamp = (v: string): boolean => {
  const match = TIMESTAMP.exec(v);
  return !!match && isDate(match[1]) && Number(match[2]) < 24 && Number(match[3]) < 60 && Number(match[4]) < 60;
};

/** Each check accepts exactly what the MERGE's CAST accepts, so a bad value is named here, not by a failed MERGE. */
const VALUE_CHECKS: Record<string, (v: string) => boolean> = {
  bigint: (v) => inRange(v, 64),
  int: (v) => inRange(v, 32),
  double: (v) => v.trim() !== '' && Number.isFinite(Number(v)),
  boolean: (v) => /^(true|false)$/i.test(v),
  date: isDate,
  timestamp: isTimestamp,
  string: () => true,
};
const valueOk = (type: ColumnType, v: string): boolean => (type.startsWith('decimal') ? /^-?\d+(\.\d+)?$/.test(v) : VALUE_CHECKS[type](v));

const normalizeTimestamp = (ts: string): string => {
  const [seconds, fraction = ''] = ts.split('.');
  return `${seconds}.${fraction.padEnd(6, '0')}`;
};

/** A large file reports progress every this many records (the activity heartbeats on it). */
const PROGRESS_EVERY = 10_000;

/** At most this many problems are kept per file: enough to act on, bounded for workflow history. */
const MAX_PROBLEMS = 10;

/**
 * Checks a DMS CSV change file row by row before anything is merged: field count, Op, commit time, key columns,
 * values that would not cast, and changes too late to merge (older than the tombstone purge horizon). Line numbers
 * are 1-based lines of the file.
 */
export async function checkChangeFile(
  def: TableDefinition,
  uri: string,
  source: string | Readable,
  options: { purgedThrough?: string; onProgress?: () => void } = {},
): Promise<FileCheck> {
  const { purgedThrough, onProgress } = options;
  const check: FileCheck = { uri, rows: 0, problems: [] };
  const report = (line: number, problem: string) => {
    if (check.problems.length < MAX_PROBLEMS) check.problems.push({ line, problem });
  };
  // Streamed: memory holds one record at a time, whatever the file's size.
  const records = parse({ relax_column_count: true, info: true, raw: true, skip_empty_lines: true });
  pipeline(typeof source === 'string' ? Readable.from([source]) : source, records, () => undefined);
  try {
    for await (const { record, info, raw } of records as AsyncIterable<{ record: string[]; info: { lines: number }; raw: string }>) {
      checkRecord(record, info, raw);
      if (check.rows % PROGRESS_EVERY === 0) onProgress?.();
    }
  } catch (err) {
    // Bad content (CSV that does not parse, gzip that does not inflate) is the file's problem; anything else (the
    // connection dropped mid-file) is the transport's, and is thrown for the activity to retry.
    if (!/^(CSV_|Z_)/.test(String((err as { code?: unknown }).code))) throw err;
    const line = (err as { lines?: number }).lines ?? 0;
    const problem = `not a CSV change file: ${(err as Error).message}`;
    return { ...check, problems: [...check.problems.slice(0, MAX_PROBLEMS - 1), { line, problem }] };
  }
  return check;

  function checkRecord(record: string[], info: { lines: number }, raw: string): void {
    const expectedFields = 2 + def.columns.length;
    // info.lines is where the record ends; a quoted field may span lines, and the row is named by its first.
    // raw also holds the blank lines skipped before the record.
    const line =
      info.lines -
      (raw
        .replace(/^(\r?\n)+/, '')
        .replace(/\r?\n$/, '')
        .split('\n').length -
        1);
    check.rows++;
    if (record.length !== expectedFields) {
      report(
        line,
        `expected ${expectedFields} fields (Op, ${def.ordering.commitTimestamp}, ${def.columns.map((c) => c.name).join(', ')}), found ${record.length}`,
      );
      return;
    }
    const [op, commitTs, ...values] = record;
    if (op !== 'I' && op !== 'U' && op !== 'D') report(line, `unknown Op '${op}' (expected I, U or D)`);
    if (!isTimestamp(commitTs)) report(line, `commit timestamp '${commitTs}' is not yyyy-MM-dd HH:mm:ss[.ffffff]`);
    else {
      const ts = normalizeTimestamp(commitTs);
      if (!check.maxCommitTs || ts > check.maxCommitTs) check.maxCommitTs = ts;
      if (purgedThrough && ts < purgedThrough) {
        report(line, `commit time ${ts} is older than the tombstone purge horizon ${purgedThrough}: it could resurrect a deleted row`);
      }
    }
    const firstKey = def.columns.findIndex((c) => c.name === def.primaryKey[0]);
    if (['bigint', 'int'].includes(def.columns[firstKey].type) && VALUE_CHECKS.bigint(values[firstKey])) {
      const key = values[firstKey];
      check.keyRange = widenKeyRange(check.keyRange, { column: def.primaryKey[0], min: key, max: key });
    }
    def.columns.forEach((column, i) => {
      const value = values[i];
      if (value === def.staging.nullValue) {
        if (def.primaryKey.includes(column.name)) report(line, `primary key column ${column.name} is null`);
        return;
      }
      if (!valueOk(column.type, value)) report(line, `column ${column.name}: '${value}' is not a ${column.type}`);
    });
    if (def.ordering.sequence) {
      const index = def.columns.findIndex((c) => c.name === def.ordering.sequence);
      if (def.columns[index].type !== 'string' && !/^\d+$/.test(values[index])) {
        report(line, `sequence column ${def.ordering.sequence}: '${values[index]}' is not a non-negative integer`);
      }
    }
  }
}
