import { Readable } from 'node:stream';
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
  /** A folder format's change (a DynamoDB export): the time its summary states, items or none. */
  exportTime?: string;
  /** A folder format's change: the records found in each of its data files (an empty partition's file holds none). */
  partRecords?: Record<string, number>;
  /** Smallest and largest value of the first key column, when it is an integer: lets the MERGE prune the target. */
  keyRange?: KeyRange;
  problems: { line: number; problem: string }[];
}

/** A change file read by byte ranges (a Parquet file's footer, then its row groups), never whole. */
export interface RangeSource {
  byteLength: number;
  slice(start: number, end?: number): Promise<ArrayBuffer>;
}

/** What a check reads: text (tests), a stream (line formats, gunzipped), or byte ranges (formats with a footer). */
export type ChangeSource = string | Readable | RangeSource;

/** A line format's source as a stream. */
export function asStream(source: ChangeSource): Readable {
  if (typeof source === 'string') return Readable.from([source]);
  if (source instanceof Readable) return source;
  throw new Error('this format reads change files as a stream, not by byte ranges');
}

export interface CheckOptions {
  /** Changes older than this (the tombstone purge horizon) are too late: they could resurrect a deleted row. */
  purgedThrough?: string;
  /** The latest plausible commit time (`yyyy-MM-dd HH:mm:ss.ffffff`): the worker's clock plus limits.maxClockSkew. */
  latestCommitTs?: { at: string; skew: string };
  /** Called every few thousand records, so a file of any size keeps the activity's heartbeat going. */
  onProgress?: () => void;
  /** Opens another file of the same change (a DynamoDB export's manifest and data files), streamed. */
  open?: (uri: string) => Promise<Readable>;
}

const TIMESTAMP = /^(\d{4}-\d{2}-\d{2}) (\d{2}):(\d{2}):(\d{2})(\.\d{1,6})?$/;

const inRange = (v: string, bits: 32 | 64): boolean => {
  if (!/^-?\d+$/.test(v)) return false;
  // Up to 15 digits a double is exact: no BigInt needed (the common case, checked for every row).
  if (v.length <= 15) return bits === 64 || Math.abs(Number(v)) < 2 ** 31 || Number(v) === -(2 ** 31);
  return BigInt(v) >= -(2n ** BigInt(bits - 1)) && BigInt(v) < 2n ** BigInt(bits - 1);
};
let lastDate = { text: '', valid: false }; // commit times of a file share a few dates: checked once each in a row
export const isDate = (v: string): boolean => {
  if (v === lastDate.text) return lastDate.valid;
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(v);
  let valid = false;
  if (match) {
    const [y, m, d] = match.slice(1).map(Number);
    const date = new Date(Date.UTC(y, m - 1, d));
    valid = date.getUTCFullYear() === y && date.getUTCMonth() === m - 1 && date.getUTCDate() === d;
  }
  lastDate = { text: v, valid };
  return valid;
};
export const isTimestamp = (v: string): boolean => {
  const match = TIMESTAMP.exec(v);
  return !!match && isDate(match[1]) && Number(match[2]) < 24 && Number(match[3]) < 60 && Number(match[4]) < 60;
};

/** Each check accepts exactly what the MERGE's CAST from text accepts, so a bad value is named here, not by a failed MERGE. */
const VALUE_CHECKS: Record<string, (v: string) => boolean> = {
  bigint: (v) => inRange(v, 64),
  int: (v) => inRange(v, 32),
  double: (v) => v.trim() !== '' && Number.isFinite(Number(v)),
  boolean: (v) => /^(true|false)$/i.test(v),
  date: isDate,
  timestamp: isTimestamp,
  string: () => true,
};
export const textValueOk = (type: ColumnType, v: string): boolean => textValueProblem(type, v) === undefined;

/** `a bigint`, `an int`. */
export const aType = (type: string): string => `${/^[aeiou]/.test(type) ? 'an' : 'a'} ${type}`;

const DECIMAL_TEXT = /^-?0*(\d*?)(?:\.(\d+))?$/;

/**
 * Why text is not a value of the column's type, or undefined when the MERGE's CAST accepts it. Problems name the kind
 * of problem only, never the value: they are kept in workflow history.
 */
export function textValueProblem(type: ColumnType, v: string): string | undefined {
  const decimal = /^decimal\((\d+),\s*(\d+)\)$/.exec(type);
  if (decimal) {
    const digits = /^-?\d+(\.\d+)?$/.test(v) ? DECIMAL_TEXT.exec(v) : null;
    if (!digits) return `not ${aType(type)}`;
    // CAST rounds extra fraction digits (half up); integer digits beyond precision - scale fail it, rounding's carry too.
    const [, int, fraction = ''] = digits;
    const scale = Number(decimal[2]);
    const carries = fraction.length > scale && fraction[scale] >= '5' && /^9*$/.test(int + fraction.slice(0, scale));
    return int.length + (carries ? 1 : 0) > Number(decimal[1]) - scale ? `value does not fit ${type}` : undefined;
  }
  if (VALUE_CHECKS[type](v)) return undefined;
  return (type === 'bigint' || type === 'int') && /^-?\d+$/.test(v) ? `value does not fit ${type}` : `not ${aType(type)}`;
}
export const isInteger = (v: string): boolean => inRange(v, 64);

export const normalizeTimestamp = (ts: string): string => {
  const [seconds, fraction = ''] = ts.split('.');
  return `${seconds}.${fraction.padEnd(6, '0')}`;
};

/** A large file reports progress every this many records (the activity heartbeats on it). */
const PROGRESS_EVERY = 10_000;

/** At most this many problems are kept per file: enough to act on, bounded for workflow history. */
const MAX_PROBLEMS = 10;

/** What every format's check records as it reads a file: rows, problems, commit times against the horizon, keys. */
export class FileCheckRecorder {
  private readonly check: FileCheck;
  private readonly integerKey: boolean;

  constructor(
    private readonly def: TableDefinition,
    uri: string,
    private readonly options: CheckOptions,
  ) {
    this.check = { uri, rows: 0, problems: [] };
    const firstKey = def.columns.find((c) => c.name === def.primaryKey[0]);
    this.integerKey = firstKey?.type === 'bigint' || firstKey?.type === 'int';
  }

  row(): void {
    this.check.rows++;
    if (this.check.rows % PROGRESS_EVERY === 0) this.options.onProgress?.();
  }

  /** Prefixes the problems reported from now on: which file of a multi-file change they are in. */
  problemPrefix = '';

  report(line: number, problem: string): void {
    if (this.check.problems.length < MAX_PROBLEMS) this.check.problems.push({ line, problem: this.problemPrefix + problem });
  }

  /** The change's operation; an append table takes inserts only. */
  operation(line: number, op: 'I' | 'U' | 'D'): void {
    if (this.def.kind === 'append' && op !== 'I') {
      this.report(line, `an append table takes inserts only, this change is ${op === 'U' ? 'an update' : 'a delete'} (use kind cdc)`);
    }
  }

  /** A valid commit time `yyyy-MM-dd HH:mm:ss[.ffffff]` (UTC). */
  commitTime(line: number, ts: string): void {
    const normalized = normalizeTimestamp(ts);
    if (!this.check.maxCommitTs || normalized > this.check.maxCommitTs) this.check.maxCommitTs = normalized;
    const { purgedThrough, latestCommitTs } = this.options;
    if (latestCommitTs && normalized > latestCommitTs.at) {
      this.report(
        line,
        `commit time more than ${latestCommitTs.skew} (limits.maxClockSkew) ahead of the worker's clock: a forged or corrupt ` +
          'record would win against every later change of its key',
      );
    }
    if (purgedThrough && normalized < purgedThrough) {
      this.report(
        line,
        `commit time ${normalized} is older than the tombstone purge horizon ${purgedThrough}: it could resurrect a deleted row`,
      );
    }
  }

  /**
   * The first key column's value (text, or a JSON number); widens the key range when the key is an integer. A JSON
   * number beyond 2^53 has lost its digits: the range then spans every bigint, and the batch is not pruned by key.
   */
  firstKey(value: unknown): void {
    if (!this.integerKey) return;
    const column = this.def.primaryKey[0];
    if (typeof value === 'number' && Number.isInteger(value) && !Number.isSafeInteger(value)) {
      this.check.keyRange = widenKeyRange(this.check.keyRange, { column, min: String(-(2n ** 63n)), max: String(2n ** 63n - 1n) });
    } else if (isInteger(String(value))) {
      this.check.keyRange = widenKeyRange(this.check.keyRange, { column, min: String(value), max: String(value) });
    }
  }

  /** The file could not be read to the end: its last problem says why (keeping room for it). Line 0: the whole file. */
  unreadable(line: number, problem: string): FileCheck {
    return {
      ...this.check,
      problems: [...this.check.problems.slice(0, MAX_PROBLEMS - 1), { line, problem: this.problemPrefix + problem }],
    };
  }

  result(): FileCheck {
    return this.check;
  }
}

/**
 * Bad content (CSV that does not parse, gzip that does not inflate) is the file's problem; anything else (the
 * connection dropped mid-file) is the transport's, and is thrown for the activity to retry.
 */
export const isBadContent = (err: unknown): boolean => /^(CSV_|Z_)/.test(String((err as { code?: unknown }).code));
