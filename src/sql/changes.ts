import { quoteIdent, quoteString } from './identifiers';
import { COMMIT_TS_COLUMN, INITIAL_COLUMN, OP_COLUMN, PATH_COLUMN, SEQUENCE_COLUMN } from './metadata';

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
  columns: string[];
  from: string;
  where?: string;
}): string {
  const q = quoteIdent;
  return (
    `SELECT ${parts.path ?? q(PATH_COLUMN)} AS ${q(PATH_COLUMN)}, ${parts.op} AS ${q(OP_COLUMN)}, ${parts.commitTs} AS ${q(COMMIT_TS_COLUMN)}, ` +
    `${parts.sequence} AS ${q(SEQUENCE_COLUMN)}, ${parts.initial ?? 'false'} AS ${q(INITIAL_COLUMN)}, ${parts.columns.join(', ')} FROM ${parts.from}${parts.where ? ` WHERE ${parts.where}` : ''}`
  );
}

/** The staging rows of a batch's files: a predicate on the engine's `"$path"`. */
export const renderPathIn = (files: string[]): string => `"$path" IN (${files.map(quoteString).join(', ')})`;

/** SQL mapping a format's operation names (text) to I, U, D; anything else is NULL. */
export const renderOpMapping = (text: string, ops: Record<string, 'I' | 'U' | 'D'>): string =>
  `CASE ${text} ${Object.entries(ops)
    .map(([from, to]) => `WHEN ${quoteString(from)} THEN ${quoteString(to)}`)
    .join(' ')} END`;
