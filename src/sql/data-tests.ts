import type { DataTest } from '../config/models';
import type { Dialect } from './dialect';
import { embedFragment } from './fragment';
import { quoteIdent, quoteString } from './identifiers';

/** How many failing rows a test brings back as a sample. */
export const SAMPLE_ROWS = 5;
export const FAILURES_COLUMN = 'icetide_failures';

/** A test's name as reports show it, e.g. `unique(id, day)`. */
export function testName(test: DataTest): string {
  if ('not_null' in test) return `not_null(${test.not_null.join(', ')})`;
  if ('unique' in test) return `unique(${test.unique.join(', ')})`;
  if ('accepted_values' in test) return `accepted_values(${test.accepted_values.column})`;
  if ('relationships' in test) return `relationships(${test.relationships.column} → ${test.relationships.to}.${test.relationships.field})`;
  if ('row_count' in test) return `row_count(${test.row_count.min ?? 0}..${test.row_count.max ?? '∞'})`;
  return test.name ?? 'sql';
}

/** The rows that break the test, in `relation` (a model's build). */
export function renderFailingRows(test: DataTest, relation: string, dialect: Dialect): string {
  const cols = (names: string[]) => names.map(quoteIdent).join(', ');
  if ('not_null' in test) return `SELECT * FROM ${relation} WHERE ${test.not_null.map((c) => `${quoteIdent(c)} IS NULL`).join(' OR ')}`;
  if ('unique' in test) {
    return `SELECT ${cols(test.unique)}, count(*) AS occurrences FROM ${relation} GROUP BY ${cols(test.unique)} HAVING count(*) > 1`;
  }
  if ('accepted_values' in test) {
    const column = quoteIdent(test.accepted_values.column);
    const values = test.accepted_values.values.map((v) => (typeof v === 'number' ? String(v) : quoteString(v))).join(', ');
    return `SELECT ${column}, count(*) AS occurrences FROM ${relation} WHERE ${column} IS NOT NULL AND ${column} NOT IN (${values}) GROUP BY ${column}`;
  }
  if ('relationships' in test) {
    const { column, to, field } = test.relationships;
    const [database, table] = to.split('.');
    return (
      `SELECT child.${quoteIdent(column)} FROM ${relation} AS child LEFT JOIN ${dialect.relation(database, table)} AS parent ` +
      `ON child.${quoteIdent(column)} = parent.${quoteIdent(field)} WHERE child.${quoteIdent(column)} IS NOT NULL AND parent.${quoteIdent(field)} IS NULL`
    );
  }
  if ('row_count' in test) {
    const { min, max } = test.row_count;
    const bounds = [min !== undefined && `n_rows < ${min}`, max !== undefined && `n_rows > ${max}`].filter(Boolean).join(' OR ');
    return `SELECT n_rows FROM (SELECT count(*) AS n_rows FROM ${relation}) WHERE ${bounds}`;
  }
  return embedFragment(test.sql).replace(/\{\{\s*this\s*\}\}/g, relation);
}

/**
 * The audit's one query: how many rows fail each test (`test` is the test's index), one scan per test in one
 * statement. Samples are fetched afterwards, only for the tests that failed.
 */
export const renderTestCounts = (tests: DataTest[], relation: string, dialect: Dialect): string =>
  tests
    .map(
      (test, i) =>
        `SELECT ${i} AS test, count(*) AS ${FAILURES_COLUMN} FROM (${renderFailingRows(test, relation, dialect)}) AS failing_${i}`,
    )
    .join('\nUNION ALL\n');

/** A failing test's sample: some of its failing rows, each carrying how many rows fail in all. */
export const renderTestQuery = (test: DataTest, relation: string, dialect: Dialect): string =>
  `SELECT failing.*, count(*) OVER () AS ${FAILURES_COLUMN} FROM (${renderFailingRows(test, relation, dialect)}) AS failing LIMIT ${SAMPLE_ROWS}`;

export interface TestFailure {
  failures: number;
  sample: Record<string, unknown>[];
}

/**
 * A row_count test decided from a row count the engine already reported (a CTAS writes every row of a new table):
 * no query. The failure looks like the SQL test's.
 */
export function rowCountFailure(test: Extract<DataTest, { row_count: unknown }>, rows: number): TestFailure | undefined {
  const { min, max } = test.row_count;
  const fails = (min !== undefined && rows < min) || (max !== undefined && rows > max);
  return fails ? { failures: 1, sample: [{ n_rows: rows }] } : undefined;
}

/** A test's result from its query's rows: how many rows fail in all, and a sample of them. */
export function testFailure(rows: Record<string, unknown>[]): TestFailure | undefined {
  if (!rows.length) return undefined;
  return {
    failures: Number(rows[0][FAILURES_COLUMN]),
    sample: rows.map(({ [FAILURES_COLUMN]: _, ...row }) => row),
  };
}
