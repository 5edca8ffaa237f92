import type { ModelDefinition } from '../config/models';
import type { Dialect } from './dialect';
import { quoteIdent, quoteString } from './identifiers';
import { modelQuery } from './models';

type IncrementalModel = Extract<ModelDefinition, { materialization: 'incremental_by_period' }>;

/** One chunk of an incremental model: the half-open range [from, to) of its period column (yyyy-MM-dd). */
export interface Period {
  from: string;
  to: string;
}

/** The periods from the model's start through the one holding `end`, in order. */
export function periodsOf(model: IncrementalModel, today: string): Period[] {
  const { period, start } = model.incremental;
  const end = model.incremental.end ?? today;
  const periods: Period[] = [];
  let from = new Date(`${start}T00:00:00Z`);
  if (period === 'month') from.setUTCDate(1);
  const last = new Date(`${end}T00:00:00Z`);
  while (from <= last) {
    const to = new Date(from);
    if (period === 'day') to.setUTCDate(to.getUTCDate() + 1);
    else to.setUTCMonth(to.getUTCMonth() + 1);
    periods.push({ from: from.toISOString().slice(0, 10), to: to.toISOString().slice(0, 10) });
    from = to;
  }
  return periods;
}

const inPeriod = (column: string, { from, to }: Period): string =>
  `${column} >= DATE ${quoteString(from)} AND ${column} < DATE ${quoteString(to)}`;

/**
 * Runs recorded before a period was replaced in one commit: first the period's rows go, then the SELECT's rows of the
 * period are inserted (two commits; readers see the period empty between them).
 */
export function renderChunk(model: IncrementalModel, period: Period, dialect: Dialect): { remove: string; insert: string } {
  const target = dialect.relation(model.database, model.name);
  const column = quoteIdent(model.incremental.column);
  return {
    remove: `DELETE FROM ${target} WHERE ${inPeriod(column, period)}`,
    insert: `INSERT INTO ${target}\nSELECT * FROM ${modelQuery(model)}\nWHERE ${inPeriod(`model.${column}`, period)}`,
  };
}

/** The source's flag on the one row that matches, and so deletes, every row the period holds. */
const DELETES_PERIOD = quoteIdent('_icetide_period_delete');

/**
 * A chunk replaces its period whole in one MERGE, one commit: readers see the old rows or the new ones, never an
 * empty period, and a MERGE that fails leaves the old rows. Its source is the SELECT's rows of the period plus one
 * row flagged DELETES_PERIOD (typed by the table's columns, all NULL) that the ON clause matches with every existing
 * row of the period: each target row matches at most that one source row, as MERGE requires. Running it again (a
 * retry, a resubmission of a lost query, a resumed run) leaves the same rows. `columns` are the table's, in order.
 */
export function renderPeriodReplace(model: IncrementalModel, period: Period, columns: readonly string[], dialect: Dialect): string {
  const target = dialect.relation(model.database, model.name);
  const column = quoteIdent(model.incremental.column);
  const names = columns.map(quoteIdent);
  const of = (alias: string) => names.map((name) => `${alias}.${name}`).join(', ');
  return (
    `MERGE INTO ${target} AS t\nUSING (\n` +
    `SELECT ${of('model')}, false AS ${DELETES_PERIOD} FROM ${modelQuery(model)}\nWHERE ${inPeriod(`model.${column}`, period)}\n` +
    `UNION ALL\n` +
    `SELECT ${of('existing')}, true FROM (VALUES 1) AS one (x) LEFT JOIN (SELECT * FROM ${target} WHERE false) AS existing ON true\n` +
    `) AS s\nON s.${DELETES_PERIOD} AND ${inPeriod(`t.${column}`, period)}\n` +
    `WHEN MATCHED THEN DELETE\n` +
    `WHEN NOT MATCHED AND NOT s.${DELETES_PERIOD} THEN INSERT (${names.join(', ')}) VALUES (${of('s')})`
  );
}

/** Periods whose row count in the table differs from the SELECT's over the whole range: empty when all match. */
export function renderPeriodCheck(model: IncrementalModel, range: Period, dialect: Dialect): string {
  const target = dialect.relation(model.database, model.name);
  const column = quoteIdent(model.incremental.column);
  const unit = quoteString(model.incremental.period);
  const counts = (from: string, col: string) =>
    `SELECT date_trunc(${unit}, ${col}) AS period, count(*) AS n FROM ${from} WHERE ${inPeriod(col, range)} GROUP BY 1`;
  return (
    `WITH built AS (${counts(target, column)}),\nsource AS (${counts(modelQuery(model), `model.${column}`)})\n` +
    `SELECT CAST(coalesce(b.period, s.period) AS varchar) AS period, coalesce(b.n, 0) AS built, coalesce(s.n, 0) AS expected\n` +
    `FROM built b FULL OUTER JOIN source s ON b.period = s.period\n` +
    `WHERE coalesce(b.n, 0) <> coalesce(s.n, 0) ORDER BY 1 LIMIT 20`
  );
}
