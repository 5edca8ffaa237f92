import type { Dialect } from './dialect';
import type { TableDefinition } from '../config/schema';

/**
 * One read of the staging table with the filter the MERGE uses: per file the engine read, its path and size as the
 * engine saw them and its rows. A file absent from the answer was read as nothing (or not at all).
 */
export const renderFileAccounting = (def: TableDefinition, dialect: Dialect, filter: string): string =>
  `SELECT "$path" AS path, "$file_size" AS size, count(*) AS rows FROM ${dialect.staging(def)} WHERE ${filter} GROUP BY "$path", "$file_size"`;
