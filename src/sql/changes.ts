import { quoteIdent, quoteString } from './identifiers';
import { COMMIT_TS_COLUMN, INITIAL_COLUMN, OP_COLUMN, PATH_COLUMN, SEQUENCE_COLUMN } from './metadata';

/**
 * How a changes SELECT is read: `merge` converts with the MERGE's casts, which fail the statement on a bad value;
 * `check` wraps every conversion in `try` (a value that does not convert reads as NULL) and says per column whether
 * the record gave a value, so one read counts what the MERGE would refuse with the very same conversions.
 */
export type ChangesMode = 'merge' | 'check';

/** One of the table's columns in a changes SELECT: its typed value, and the record's value before conversion. */
export interface ChangeColumn {
  name: string;
  /** The typed value, converted from `given`. */
  value: string;
  /** The value as the record holds it (text, JSON text, a Parquet value): NULL when the record gives none. */
  given: string;
}

/** In a check-mode changes SELECT: whether the record gave a value for the table's i-th column. */
export const givenColumn = (i: number): string => `_icetide_given_${i}`;

/**
 * The shape every format's changes SELECT has (see ChangeFormat.changes): the file, the operation, the commit time,
 * the sequence, then the columns, from the format's records.
 */
export function renderChangesSelect(parts: {
  /** The file of a record; by default the PATH_COLUMN its records carry (JSON formats). */
  path?: string;
  op: string;
  commitTs: string;
  sequence: string;
  /** Whether the change is an initial copy (full load, snapshot read) rather than a captured change; default false. */
  initial?: string;
  columns: ChangeColumn[];
  from: string;
  where?: string;
  mode: ChangesMode;
}): string {
  const q = quoteIdent;
  const checked = parts.mode === 'check';
  const converted = (sql: string) => (checked ? `try(${sql})` : sql);
  const columns = parts.columns.flatMap((c, i) => [
    `${converted(c.value)} AS ${q(c.name)}`,
    ...(checked ? [`(${c.given}) IS NOT NULL AS ${givenColumn(i)}`] : []),
  ]);
  return (
    `SELECT ${parts.path ?? q(PATH_COLUMN)} AS ${q(PATH_COLUMN)}, ${converted(parts.op)} AS ${q(OP_COLUMN)}, ` +
    `${converted(parts.commitTs)} AS ${q(COMMIT_TS_COLUMN)}, ${converted(parts.sequence)} AS ${q(SEQUENCE_COLUMN)}, ` +
    `${parts.initial ?? 'false'} AS ${q(INITIAL_COLUMN)}, ${columns.join(', ')} FROM ${parts.from}${parts.where ? ` WHERE ${parts.where}` : ''}`
  );
}

/**
 * A position as text that sorts like its number: the digits left-padded to `width`. Anything else (too long, not
 * digits) is NULL, which the check refuses as a bad sequence; a missing position is '' when `optional`.
 */
export const renderPaddedDigits = (text: string, width: number, optional = false): string =>
  `CASE ${optional ? `WHEN ${text} IS NULL THEN '' ` : ''}WHEN regexp_like(${text}, '^[0-9]{1,${width}}$') THEN lpad(${text}, ${width}, '0') END`;

/** The staging rows of a batch's files: a predicate on the engine's `"$path"`. */
export const renderPathIn = (files: string[]): string => `"$path" IN (${files.map(quoteString).join(', ')})`;

/** SQL mapping a format's operation names (text) to I, U, D; anything else is NULL. */
export const renderOpMapping = (text: string, ops: Record<string, 'I' | 'U' | 'D'>): string =>
  `CASE ${text} ${Object.entries(ops)
    .map(([from, to]) => `WHEN ${quoteString(from)} THEN ${quoteString(to)}`)
    .join(' ')} END`;
