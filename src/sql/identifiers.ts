/** Quoting for the SQL we render. Identifiers are validated by the config schema; quoting is the second fence. */
export const quoteIdent = (name: string): string => `"${name.replace(/"/g, '""')}"`;

export const quoteString = (value: string): string => `'${value.replace(/'/g, "''")}'`;

export const qualify = (...parts: string[]): string => parts.map(quoteIdent).join('.');

/** Athena's DDL (Hive) quotes identifiers with backticks. */
export const backtick = (name: string): string => `\`${name.replace(/`/g, '``')}\``;
