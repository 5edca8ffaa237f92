/**
 * Quoting for the SQL we render. Identifiers are validated by the config schema; quoting is the second fence. The
 * two grammars icetide speaks quote strings differently, so each has its own function and a DDL string goes through
 * its dialect's (Dialect.ddlString).
 */
export const quoteIdent = (name: string): string => `"${name.replace(/"/g, '""')}"`;

/** A Trino SQL string literal (Trino; Athena's DML, CTAS and views, which Trino parses): a quote is doubled, a backslash is plain. */
export const quoteString = (value: string): string => `'${value.replace(/'/g, "''")}'`;

/**
 * A Hive DDL string literal (Athena's CREATE TABLE, CREATE DATABASE, ALTER TABLE SET TBLPROPERTIES): backslash
 * escapes. Doubling a quote, as in SQL, would end the literal and start another, which Hive concatenates: `'it''s'`
 * reads `its`; and an unescaped backslash before a quote would end it anywhere.
 */
export const hiveString = (value: string): string => `'${value.replace(/[\\']/g, (c) => `\\${c}`)}'`;

export const qualify = (...parts: string[]): string => parts.map(quoteIdent).join('.');

/** Athena's DDL (Hive) quotes identifiers with backticks. */
export const backtick = (name: string): string => `\`${name.replace(/`/g, '``')}\``;
