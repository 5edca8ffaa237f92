import type { Dialect } from './dialect';
import type { TableDefinition } from '../config/schema';
import { formatOf } from '../formats/registry';

/**
 * One read of the staging table with the filter the MERGE uses: per file the engine read, its path and size as the
 * engine saw them, its rows, and the rows that are no record of the format at all (ChangeFormat.malformed). A file
 * absent from the answer was read as nothing (or not at all).
 */
export function renderFileAccounting(def: TableDefinition, dialect: Dialect, filter: string): string {
  const malformed = formatOf(def).malformed?.(def).predicate ?? 'false';
  return (
    `SELECT "$path" AS path, "$file_size" AS size, count(*) AS rows, count_if(${malformed}) AS malformed ` +
    `FROM ${dialect.staging(def)} WHERE ${filter} GROUP BY "$path", "$file_size"`
  );
}
