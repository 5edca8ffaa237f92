import { z } from 'zod';
import { modelName } from '../shared';
import { CURRENT_VIEW_SUFFIX } from '../sql/dialect';
import { fragmentProblem } from '../sql/fragment';
import { duration, identifier, partitionSpec, s3Location } from './schema';

/**
 * Downstream models (the project file's `models:` and `templates:`): a SELECT over icetide tables and other models,
 * materialised on the same engine by a durable workflow (workflows/build-model.ts; the DAG: workflows/models.ts),
 * gated by data tests.
 */

const columns = z.array(identifier).min(1);
/** SQL embedded in icetide's statements: one closed fragment (sql/fragment.ts). */
const sqlFragment = z
  .string()
  .min(1)
  .superRefine((sql, ctx) => {
    const problem = fragmentProblem(sql);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });
const qualified = z.string().regex(/^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$/, 'database.name, lower case');

/**
 * A failed test reports how many rows fail; with `samples: true` (here or on the model) also a few of those rows,
 * which then sit in workflow history, the alert and the CLI's output: off by default, rows are customers' data.
 */
const samples = { samples: z.boolean().optional() };

/** A data test: a query for the rows that break it, run in the engine; any row fails the test. */
export const dataTestSchema = z.union([
  z.strictObject({ not_null: columns, ...samples }),
  z.strictObject({ unique: columns, ...samples }),
  z.strictObject({
    accepted_values: z.strictObject({ column: identifier, values: z.array(z.union([z.string(), z.number()])).min(1) }),
    ...samples,
  }),
  z.strictObject({ relationships: z.strictObject({ column: identifier, to: qualified, field: identifier }), ...samples }),
  z.strictObject({
    row_count: z
      .strictObject({ min: z.number().int().min(0).optional(), max: z.number().int().min(0).optional() })
      .refine((b) => b.min !== undefined || b.max !== undefined, 'give min, max or both'),
  }),
  /** Custom: a SELECT returning the failing rows; `{{ this }}` names the model's build being tested. */
  z.strictObject({ sql: sqlFragment, name: z.string().min(1).optional(), ...samples }),
]);
export type DataTest = z.infer<typeof dataTestSchema>;

const modelBase = {
  name: identifier,
  database: identifier,
  /** A SELECT; names other models and icetide tables as database.name. `{{ this }}`: the model itself (scd2). */
  sql: sqlFragment,
  /** Inferred from the SQL (every database.name of a model it mentions); list more here. */
  dependsOn: z.array(qualified).default([]),
  tests: z.array(dataTestSchema).default([]),
  /** Failed tests of this model report sample rows (see dataTestSchema). */
  ...samples,
  partitioning: z.array(partitionSpec).default([]),
  /** The data files' format; Parquet when unset (runs and schedules recorded before this key have none). */
  format: z.enum(['PARQUET', 'ORC', 'AVRO']).optional(),
  /**
   * Where the model's tables live: each under `<location>/<table>/` (a `table` model's versions each in their own).
   * Default: the catalog's (Trino), `ICETIDE_WAREHOUSE/<database>/<table>/` (Athena, which needs one).
   */
  location: s3Location(/^s3a?:\/\/[^/]+/, 'an s3:// URL').optional(),
  /** Attempts after the first when the model fails (with backoff); its children wait for the last. */
  retries: z.number().int().min(0).max(10).default(2),
};

export const modelDefinitionSchema = z.discriminatedUnion('materialization', [
  z.strictObject({
    ...modelBase,
    /** Full refresh: build a new version, audit it, publish it by swapping the view, drop the old one. */
    materialization: z.literal('table'),
    /** Keep a build whose audit failed, for inspection (it is named in the error); dropped otherwise. */
    keepFailedBuild: z.boolean().default(false),
  }),
  z.strictObject({
    ...modelBase,
    /** Chunks of a date/time column, each replaced whole (delete then insert), then row counts checked per period. */
    materialization: z.literal('incremental_by_period'),
    incremental: z.strictObject({
      column: identifier,
      period: z.enum(['day', 'month']),
      /** First period (yyyy-MM-dd); the last is the one holding `end` (default: today, UTC). */
      start: z.iso.date(),
      end: z.iso.date().optional(),
      /** Chunks running at once. */
      parallelism: z.number().int().min(1).max(32).default(1),
    }),
  }),
  z.strictObject({
    ...modelBase,
    /** History of the SELECT's rows: valid_from, valid_to, is_current and a row hash, kept by one MERGE per run. */
    materialization: z.literal('scd2'),
    scd2: z.strictObject({ key: columns, columns: columns.optional() }),
  }),
]);
export type ModelDefinition = z.infer<typeof modelDefinitionSchema>;

/** One SQL template × a list of parameter sets: one model each. `{{ name }}` placeholders in any string. */
export const templateSchema = z.strictObject({
  template: z.record(z.string(), z.unknown()),
  for: z.array(z.record(identifier, z.union([z.string(), z.number()]))).min(1),
});

/** The settings of model runs (`models run`). */
export const modelSettingsSchema = z.strictObject({
  /** Models built at once (each one's queries also hold the engine's query permits). */
  parallelism: z.number().int().min(1).max(64).default(4),
  /** Failures are posted here as JSON `{ text }` (Slack's incoming-webhook format works). */
  alertWebhook: z.url().optional(),
  /** Runs the whole DAG on this cadence when set (icetide apply creates the schedule). */
  every: duration.optional(),
  /**
   * Scheduled runs rebuild only what changed: a model whose icetide tables have no new data snapshot and whose
   * parent models were not rebuilt since its last successful build is reported `unchanged` instead of built again.
   */
  onlyWhenSourcesAdvance: z.boolean().optional(),
});
export type ModelSettings = z.infer<typeof modelSettingsSchema>;

/** `{{ key }}` placeholders replaced from `params`; the names of placeholders with no value are returned too. */
export function fillTemplate(value: unknown, params: Record<string, string | number>, missing: Set<string>): unknown {
  if (typeof value === 'string') {
    return value.replace(/\{\{\s*([a-z_][a-z0-9_]*)\s*\}\}/g, (whole, key: string) => {
      if (key === 'this') return whole; // the model itself, filled at run time
      if (!(key in params)) {
        missing.add(key);
        return whole;
      }
      return String(params[key]);
    });
  }
  if (Array.isArray(value)) return value.map((v) => fillTemplate(v, params, missing));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fillTemplate(v, params, missing)]));
  }
  return value;
}

/**
 * Whether `sql` names the relation `database.name` (quoted or not). Outside quotes is not checked: a name in a string
 * literal counts too, which only orders a run more strictly or rebuilds a model once more.
 */
const mentions = (sql: string, name: string): boolean =>
  new RegExp(`(^|[^a-z0-9_."])"?${name.replace('.', '"?\\."?')}"?($|[^a-z0-9_"])`, 'i').test(sql);

/** The models each model depends on: those it declares and every model whose database.name its SQL mentions. */
export function dependenciesOf(model: ModelDefinition, models: readonly ModelDefinition[]): string[] {
  const mentioned = models
    .filter((other) => other !== model)
    .map(modelName)
    .filter((name) => mentions(model.sql, name));
  return [...new Set([...model.dependsOn, ...mentioned])].sort();
}

/**
 * The icetide tables (database.table) a model reads: those its SQL names, itself or through its `_current` view, and
 * those its `dependsOn` names (read where the SQL does not show it: a view, a function). Their new snapshots make the
 * model worth rebuilding.
 */
export const sourcesOf = (model: ModelDefinition, tables: readonly string[]): string[] =>
  tables
    .filter(
      (table) => model.dependsOn.includes(table) || mentions(model.sql, table) || mentions(model.sql, `${table}${CURRENT_VIEW_SUFFIX}`),
    )
    .sort();

/** Models in an order where each comes after all it depends on; a cycle is an error naming it. */
export function topologicalOrder(models: readonly ModelDefinition[]): ModelDefinition[] {
  const byName = new Map(models.map((m) => [modelName(m), m]));
  const order: ModelDefinition[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string, path: string[]) => {
    if (state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') throw new Error(`models depend on each other in a cycle: ${[...path, name].join(' → ')}`);
    const model = byName.get(name);
    if (!model) return; // an icetide table or an outside table: not built here
    state.set(name, 'visiting');
    for (const dep of dependenciesOf(model, models)) visit(dep, [...path, name]);
    state.set(name, 'done');
    order.push(model);
  };
  for (const m of models) visit(modelName(m), []);
  return order;
}

/**
 * The models `--select` picks: `name` alone, `name+` with everything downstream of it, `+name` with everything it
 * needs. Names are database.name or a bare name when unambiguous.
 */
export function selectModels(models: readonly ModelDefinition[], selectors: readonly string[]): ModelDefinition[] {
  if (!selectors.length) return [...models];
  const chosen = new Set<string>();
  const find = (name: string): ModelDefinition => {
    const found = models.filter((m) => modelName(m) === name || m.name === name);
    if (found.length !== 1) {
      throw new Error(found.length ? `model ${name} is ambiguous: ${found.map(modelName).join(', ')}` : `no model ${name}`);
    }
    return found[0];
  };
  const downstream = (m: ModelDefinition) => {
    chosen.add(modelName(m));
    for (const child of models)
      if (!chosen.has(modelName(child)) && dependenciesOf(child, models).includes(modelName(m))) downstream(child);
  };
  const upstream = (m: ModelDefinition) => {
    chosen.add(modelName(m));
    for (const dep of dependenciesOf(m, models)) {
      const parent = models.find((p) => modelName(p) === dep);
      if (parent && !chosen.has(dep)) upstream(parent);
    }
  };
  for (const selector of selectors) {
    const model = find(selector.replace(/^\+|\+$/g, ''));
    if (selector.endsWith('+')) downstream(model);
    if (selector.startsWith('+')) upstream(model);
    chosen.add(modelName(model));
  }
  return models.filter((m) => chosen.has(modelName(m)));
}
