import { quoteIdent } from './identifiers';
import { COMMIT_TS_COLUMN, OP_COLUMN, PATH_COLUMN, SEQUENCE_COLUMN } from './metadata';

/**
 * The shape every format's changes SELECT has (see ChangeFormat.changes): the file, the operation, the commit time,
 * the sequence, then the columns, from the format's records.
 */
export function renderChangesSelect(parts: {
  path: string;
  op: string;
  commitTs: string;
  sequence: string;
  columns: string[];
  from: string;
  where?: string;
}): string {
  const q = quoteIdent;
  return (
    `SELECT ${parts.path} AS ${q(PATH_COLUMN)}, ${parts.op} AS ${q(OP_COLUMN)}, ${parts.commitTs} AS ${q(COMMIT_TS_COLUMN)}, ` +
    `${parts.sequence} AS ${q(SEQUENCE_COLUMN)}, ${parts.columns.join(', ')} FROM ${parts.from}${parts.where ? ` WHERE ${parts.where}` : ''}`
  );
}

/** SQL mapping a format's operation names (text) to I, U, D; anything else is NULL. */
export const renderOpMapping = (text: string, ops: Record<string, 'I' | 'U' | 'D'>): string =>
  `CASE ${text} ${Object.entries(ops)
    .map(([from, to]) => `WHEN '${from}' THEN '${to}'`)
    .join(' ')} END`;
