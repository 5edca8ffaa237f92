import { quoteString } from './identifiers';

/** The columns of a table in their order, from the catalog's information_schema (both engines have it). */
export const renderColumnsIn = (catalog: string, database: string, table: string): string =>
  `SELECT column_name, data_type FROM ${catalog}.information_schema.columns ` +
  `WHERE table_schema = ${quoteString(database)} AND table_name = ${quoteString(table)} ORDER BY ordinal_position`;
