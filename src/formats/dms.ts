import type { Column, TableDefinition } from '../config/schema';
import type { Dialect } from '../sql/dialect';
import { quoteIdent } from '../sql/identifiers';
import { renderChangesSelect, renderOpMapping, renderPaddedDigits, renderPathIn, type ChangesMode } from '../sql/changes';
import { FILE_OP_COLUMN } from '../sql/metadata';

/**
 * What AWS DMS's two S3 formats (CSV and Parquet) share: `Op` (I, U, D), the commit timestamp column
 * (TimestampColumnName, text `yyyy-MM-dd HH:mm:ss.ffffff`), then the row's columns. Ordering: commit time, then the
 * table's sequence column when it has one (DMS $AR_H_CHANGE_SEQ). Full-load files (`LOAD*`) are initial copies.
 */

/** Numeric sequences are padded so that text order is number order (DMS's AR_H_CHANGE_SEQ has 35 digits). */
export const SEQUENCE_WIDTH = 40;

/** The staging table's columns, in file order. */
export const dmsStagingFields = (def: TableDefinition): string[] => [
  FILE_OP_COLUMN,
  def.ordering.commitTimestamp,
  ...def.columns.map((c) => c.name),
];

/**
 * The changes SELECT over a DMS staging table: `read.given` gives a column's value as the file holds it (NULL when
 * none), `read.value` its typed value, `read.text` its value as text (for the sequence).
 */
export function renderDmsChanges(
  def: TableDefinition,
  dialect: Dialect,
  files: string[],
  read: { given(column: Column): string; value(column: Column): string; text(column: Column): string },
  mode: ChangesMode,
): string {
  const q = quoteIdent;
  const sequenceColumn = def.ordering.sequence ? def.columns.find((c) => c.name === def.ordering.sequence) : undefined;
  // Digits compare as numbers ("9" < "10"), also in a string column (AR_H_CHANGE_SEQ's 35 digits do not fit a bigint);
  // other text as text. A numeric column's sequence is NULL unless it is a non-negative integer: the check refuses it.
  const seqText = sequenceColumn ? read.text(sequenceColumn) : '';
  const padded = renderPaddedDigits(seqText, SEQUENCE_WIDTH);
  const sequence = !sequenceColumn ? `''` : sequenceColumn.type === 'string' ? `coalesce(${padded}, ${seqText})` : padded;
  const columns = def.columns.map((c) => ({ name: c.name, value: read.value(c), given: read.given(c) }));
  return renderChangesSelect({
    path: '"$path"',
    op: renderOpMapping(q(FILE_OP_COLUMN), { I: 'I', U: 'U', D: 'D' }), // anything else is no operation: the check refuses it
    commitTs: `CAST(${q(def.ordering.commitTimestamp)} AS timestamp(6))`,
    sequence,
    initial: `regexp_like("$path", '/LOAD[^/]*$')`,
    columns,
    from: dialect.staging(def),
    where: renderPathIn(files),
    mode,
  });
}
