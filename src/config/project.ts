import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { isMap, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import { z } from 'zod';
import { athenaDialect, trinoDialect } from '../sql/dialect';
import { filesThatFit } from '../sql/merge';
import { encryptionSchema } from './encryption';
import { isObject } from './json';
import { modelName, tableName } from '../shared';
import { loadRuntimeConfig, type RuntimeConfig } from './runtime';
import { fillTemplate, modelDefinitionSchema, modelSettingsSchema, templateSchema, topologicalOrder, type ModelDefinition } from './models';
import { s3Location, tableDefinitionSchema, type TableDefinition } from './schema';

/**
 * The project file (icetide.yaml): where the engine, S3, Temporal and the metrics endpoint are, defaults, and the
 * tables. Secrets never come from it: S3 and Athena use the standard AWS credential chain (or ICETIDE_S3_* locally),
 * Temporal's API key and TLS come from the environment or a Temporal CLI profile.
 */
export const DEFAULT_PROJECT_FILE = 'icetide.yaml';

const trinoSchema = z.strictObject({
  url: z.url(),
  user: z.string().min(1).optional(),
  catalogs: z.strictObject({ iceberg: z.string().min(1).optional(), hive: z.string().min(1).optional() }).optional(),
  /** Where new schemas keep their tables. */
  warehouse: s3Location(/^s3:\/\//, 'an s3:// URI').optional(),
});

const athenaSchema = z.strictObject({
  region: z.string().min(1).optional(),
  workgroup: z.string().min(1).optional(),
  outputLocation: z.string().startsWith('s3://', 'an s3:// URI').optional(),
  catalog: z.string().min(1).optional(),
});

const projectSchema = z.strictObject({
  version: z.literal(1).default(1),
  engine: z
    .strictObject({
      trino: trinoSchema.optional(),
      athena: athenaSchema.optional(),
      /** Queries icetide runs on the engine at once, all workers of the task queue together (0: no limit). */
      maxConcurrentQueries: z.number().int().min(0).optional(),
    })
    .refine((engine) => !!engine.trino !== !!engine.athena, 'name one engine: trino or athena')
    .optional(),
  s3: z.strictObject({ endpoint: z.url().optional(), region: z.string().min(1).optional() }).optional(),
  temporal: z
    .strictObject({
      /** Used when neither TEMPORAL_ADDRESS nor the Temporal CLI profile gives one. */
      address: z.string().min(1).optional(),
      namespace: z.string().min(1).optional(),
      /** A profile of the Temporal CLI's config file (TEMPORAL_CONFIG_FILE), e.g. one for Temporal Cloud. */
      profile: z.string().min(1).optional(),
      taskQueue: z.string().min(1).optional(),
      /** The Web UI, for links the CLI prints. */
      ui: z.url().optional(),
    })
    .optional(),
  metrics: z.strictObject({ port: z.number().int().min(0).max(65535), host: z.string().default('0.0.0.0') }).optional(),
  /** Payload encryption (codec/): workflow inputs, results and failures are ciphertext in Temporal's history. */
  encryption: encryptionSchema.optional(),
  /** How much one worker takes on at once (config/worker-sizing.ts): sized from `tables` (the project's tables) unless set. */
  worker: z
    .strictObject({
      tables: z.number().int().min(0).optional(),
      cachedWorkflows: z.number().int().min(2).optional(),
      activitySlots: z.number().int().min(1).optional(),
      workflowTaskSlots: z.number().int().min(2).optional(),
    })
    .optional(),
  /** Settings every table starts from (any table key but database, table and columns); a table's own keys win. */
  defaults: z.record(z.string(), z.unknown()).default({}),
  /** Each entry is a table definition, or `{ include: folder }`: every .yaml/.yml file in the folder is one. */
  tables: z.array(z.unknown()).default([]),
  /** Downstream models (config/models.ts), and templates that generate more. */
  models: z.array(z.unknown()).default([]),
  templates: z.array(z.unknown()).default([]),
  modelRuns: modelSettingsSchema.default({ parallelism: 4 }),
});

export type ProjectSettings = Omit<z.infer<typeof projectSchema>, 'tables' | 'defaults' | 'models' | 'templates'>;

export interface Project {
  file: string;
  settings: ProjectSettings;
  runtime: RuntimeConfig;
  tables: TableDefinition[];
  /** Declared and generated, in dependency order. */
  models: ModelDefinition[];
}

/** Every problem of a project, each with the file, the line, the key path and what is wrong. */
export class ProjectError extends Error {
  constructor(readonly problems: string[]) {
    super(`${problems.length} problem(s) in the project:\n  ${problems.join('\n  ')}`);
  }
}

/** A YAML document that knows the line of every key path in it. */
class SourceFile {
  readonly lines = new LineCounter();
  readonly doc: Document;

  constructor(
    readonly file: string,
    text: string,
  ) {
    this.doc = parseDocument(text, { lineCounter: this.lines, prettyErrors: false });
  }

  /** The line of the deepest node of `path` that exists. */
  lineOf(path: readonly PropertyKey[]): number {
    let node: unknown = this.doc.contents;
    let offset = (node as { range?: number[] } | null)?.range?.[0] ?? 0;
    for (const key of path) {
      if (isMap(node)) {
        const pair = node.items.find((item) => (item.key as { value?: unknown } | null)?.value === key);
        if (!pair) break;
        offset = (pair.key as { range?: number[] }).range?.[0] ?? offset;
        node = pair.value;
      } else if (isSeq(node) && typeof key === 'number' && node.items[key]) {
        node = node.items[key];
        offset = (node as { range?: number[] }).range?.[0] ?? offset;
      } else break;
    }
    return this.lines.linePos(offset).line;
  }

  problem(path: readonly PropertyKey[], message: string): string {
    return `${this.file}:${this.lineOf(path)}: ${formatPath(path) || '(top level)'}: ${message}`;
  }

  syntaxProblems(): string[] {
    return this.doc.errors.map((err) => `${this.file}:${this.lines.linePos(err.pos[0]).line}: ${err.message.split('\n')[0]}`);
  }
}

const formatPath = (path: readonly PropertyKey[]): string =>
  path.reduce<string>((text, key) => (typeof key === 'number' ? `${text}[${key}]` : text ? `${text}.${String(key)}` : String(key)), '');

/** zod's issues in words a user reads: an unknown key is named, a missing one is called required. */
function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')}`;
  if (issue.code === 'invalid_type' && issue.input === undefined) return 'required';
  return issue.message;
}

/** A table's own keys over the project's defaults; nested blocks (schedule, maintenance, ...) merge key by key. */
function withDefaults(defaults: Record<string, unknown>, table: Record<string, unknown>): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...defaults };
  for (const [key, value] of Object.entries(table)) {
    merged[key] = isObject(value) && isObject(merged[key]) ? withDefaults(merged[key], value) : value;
  }
  return merged;
}

const TABLE_ONLY_KEYS = ['database', 'table', 'columns', 'primaryKey', 'staging', 'location'];

/**
 * Reads and validates a project file and the table files it includes; every problem is reported at once
 * (ProjectError). `env` supplies the environment: ICETIDE_* variables override the file's engine and S3 settings.
 */
export async function loadProject(file: string = DEFAULT_PROJECT_FILE, env: NodeJS.ProcessEnv = process.env): Promise<Project> {
  const source = await readSource(file);
  const problems = source.syntaxProblems();
  if (problems.length) throw new ProjectError(problems);

  // The tables are checked even when the settings are wrong: every problem is reported at once.
  const raw: unknown = source.doc.toJS();
  const parsed = projectSchema.safeParse(raw);
  if (!parsed.success) problems.push(...parsed.error.issues.map((issue) => source.problem(issue.path, describeIssue(issue))));
  const rawProject = isObject(raw) ? raw : {};
  const entries = parsed.data?.tables ?? (Array.isArray(rawProject.tables) ? (rawProject.tables as unknown[]) : []);
  const defaults = parsed.data?.defaults ?? (isObject(rawProject.defaults) ? rawProject.defaults : {});
  for (const key of Object.keys(defaults).filter((key) => TABLE_ONLY_KEYS.includes(key))) {
    problems.push(source.problem(['defaults', key], `${key} belongs to each table, not to the defaults`));
  }

  const tables: { def: TableDefinition; where: string }[] = [];
  const addTable = (raw: unknown, from: SourceFile, path: PropertyKey[]) => {
    if (!isObject(raw)) return problems.push(from.problem(path, 'a table definition (a mapping), or { include: folder }'));
    const result = tableDefinitionSchema.safeParse(withDefaults(defaults, raw));
    if (!result.success) {
      const name = `${String(raw.database ?? '?')}.${String(raw.table ?? '?')}`;
      for (const issue of result.error.issues)
        problems.push(`${from.problem([...path, ...issue.path], describeIssue(issue))} (table ${name})`);
    } else tables.push({ def: result.data, where: `${from.file}:${from.lineOf(path)}` });
  };

  for (const [index, entry] of entries.entries()) {
    if (isObject(entry) && 'include' in entry) {
      if (typeof entry.include !== 'string' || Object.keys(entry).length > 1) {
        problems.push(source.problem(['tables', index], 'include takes one folder of table files, and nothing else'));
        continue;
      }
      const folder = resolve(dirname(file), entry.include);
      let names: string[];
      try {
        names = (await readdir(folder)).filter((name) => /\.ya?ml$/.test(name)).sort();
      } catch (err) {
        problems.push(source.problem(['tables', index, 'include'], `cannot read folder ${folder}: ${(err as Error).message}`));
        continue;
      }
      for (const name of names) {
        const tableFile = await readSource(join(folder, name));
        const syntax = tableFile.syntaxProblems();
        if (syntax.length) problems.push(...syntax);
        else addTable(tableFile.doc.toJS(), tableFile, []);
      }
    } else addTable(entry, source, ['tables', index]);
  }

  const models: { model: ModelDefinition; where: string }[] = [];
  const addModel = (raw: unknown, path: PropertyKey[], origin = '') => {
    const result = modelDefinitionSchema.safeParse(raw);
    if (result.success) return models.push({ model: result.data, where: `${source.file}:${source.lineOf(path)}${origin}` });
    const name = isObject(raw) ? `${String(raw.database ?? '?')}.${String(raw.name ?? '?')}` : '?';
    for (const issue of result.error.issues)
      problems.push(`${source.problem([...path, ...issue.path], describeIssue(issue))} (model ${name}${origin})`);
  };
  for (const [index, entry] of (parsed.data?.models ?? []).entries()) addModel(entry, ['models', index]);
  for (const [index, entry] of (parsed.data?.templates ?? []).entries()) {
    const template = templateSchema.safeParse(entry);
    if (!template.success) {
      problems.push(...template.error.issues.map((issue) => source.problem(['templates', index, ...issue.path], describeIssue(issue))));
      continue;
    }
    for (const [row, params] of template.data.for.entries()) {
      const missing = new Set<string>();
      const filled = fillTemplate(template.data.template, params, missing);
      if (missing.size) {
        problems.push(source.problem(['templates', index, 'for', row], `no value for ${[...missing].map((k) => `{{ ${k} }}`).join(', ')}`));
      } else addModel(filled, ['templates', index, 'template'], ` from templates[${index}].for[${row}]`);
    }
  }

  const seen = new Map<string, string>();
  for (const { name, kind, where } of [
    ...tables.map(({ def, where }) => ({ name: tableName(def), kind: 'table', where })),
    ...models.map(({ model, where }) => ({ name: modelName(model), kind: 'model', where })),
  ]) {
    const earlier = seen.get(name);
    if (earlier) problems.push(`${where}: ${kind} ${name} is already defined at ${earlier}`);
    seen.set(name, where);
  }
  for (const { model, where } of models) {
    for (const dep of model.dependsOn.filter((d) => !seen.has(d))) {
      problems.push(`${where}: model ${modelName(model)} depends on ${dep}, which is neither a table nor a model of the project`);
    }
  }
  let ordered: ModelDefinition[] = [];
  try {
    ordered = topologicalOrder(models.map((m) => m.model));
  } catch (err) {
    problems.push(`${file}: ${(err as Error).message}`);
  }

  if (problems.length || !parsed.data) throw new ProjectError(problems);
  const settings: ProjectSettings = {
    version: parsed.data.version,
    engine: parsed.data.engine,
    s3: parsed.data.s3,
    temporal: parsed.data.temporal,
    metrics: parsed.data.metrics,
    worker: parsed.data.worker,
    modelRuns: parsed.data.modelRuns,
    // A key file is named relative to the project file, like an include.
    encryption: parsed.data.encryption && {
      keys: parsed.data.encryption.keys.map((key) => (key.file ? { ...key, file: resolve(dirname(file), key.file) } : key)),
    },
  };
  let runtime: RuntimeConfig;
  try {
    runtime = {
      ...loadRuntimeConfig({ ...runtimeFromSettings(settings, tables.length), ...env }, settings.temporal),
      encryption: settings.encryption,
    };
  } catch (err) {
    throw new ProjectError([`${file}: ${(err as Error).message}`]);
  }
  const tooLong = tables.filter(({ def }) => !mergeFitsOneFile(def, runtime));
  if (tooLong.length) {
    const limit = engineDialect(runtime).maxStatementBytes;
    throw new ProjectError(
      tooLong.map(
        ({ def, where }) =>
          `${where}: table ${tableName(def)}: its MERGE of even one change file is longer than the ${runtime.ICETIDE_ENGINE} statement ` +
          `limit of ${limit} bytes (every column adds to it): fewer or shorter columns, or split the table`,
      ),
    );
  }
  return { file, settings, runtime, tables: tables.map((t) => t.def), models: ordered };
}

async function readSource(file: string): Promise<SourceFile> {
  try {
    return new SourceFile(file, await readFile(file, 'utf8'));
  } catch (err) {
    throw new ProjectError([`${file}: cannot read: ${(err as Error).message}`]);
  }
}

/** The project file's settings as the ICETIDE_* variables the worker and CLI are configured by. */
function runtimeFromSettings(settings: ProjectSettings, tables: number): Record<string, string | undefined> {
  const { trino, athena } = settings.engine ?? {};
  const { worker } = settings;
  return {
    ICETIDE_ENGINE: athena ? 'athena' : trino ? 'trino' : undefined,
    ICETIDE_TRINO_URL: trino?.url,
    ICETIDE_TRINO_USER: trino?.user,
    ICETIDE_TRINO_ICEBERG_CATALOG: trino?.catalogs?.iceberg,
    ICETIDE_TRINO_HIVE_CATALOG: trino?.catalogs?.hive,
    ICETIDE_WAREHOUSE: trino?.warehouse,
    ICETIDE_ATHENA_WORKGROUP: athena?.workgroup,
    ICETIDE_ATHENA_OUTPUT: athena?.outputLocation,
    ICETIDE_ATHENA_CATALOG: athena?.catalog,
    ICETIDE_ENGINE_MAX_QUERIES: settings.engine?.maxConcurrentQueries?.toString(),
    ICETIDE_S3_ENDPOINT: settings.s3?.endpoint,
    ICETIDE_S3_REGION: settings.s3?.region ?? athena?.region,
    ICETIDE_TASK_QUEUE: settings.temporal?.taskQueue,
    ICETIDE_TEMPORAL_UI: settings.temporal?.ui,
    ICETIDE_METRICS_PORT: settings.metrics ? String(settings.metrics.port) : undefined,
    ICETIDE_METRICS_HOST: settings.metrics?.host,
    ICETIDE_WORKER_TABLES: String(worker?.tables ?? tables),
    ICETIDE_WORKER_CACHED_WORKFLOWS: worker?.cachedWorkflows?.toString(),
    ICETIDE_WORKER_ACTIVITY_SLOTS: worker?.activitySlots?.toString(),
    ICETIDE_WORKER_WORKFLOW_TASK_SLOTS: worker?.workflowTaskSlots?.toString(),
  };
}

/** A command named a table the project does not define (or not unambiguously). */
export class UnknownTableError extends Error {}

/** A table of the project by `database.table`, or by `table` alone when only one database has it. */
const engineDialect = (runtime: RuntimeConfig) => (runtime.ICETIDE_ENGINE === 'athena' ? athenaDialect() : trinoDialect());

/** Whether the table's MERGE holds at least one change file (a long name, in date folders) within the engine's limit. */
function mergeFitsOneFile(def: TableDefinition, runtime: RuntimeConfig): boolean {
  const file = `${def.staging.location}2026/12/01/${'x'.repeat(100)}-20261201-120000000.csv.gz`;
  return filesThatFit(def, engineDialect(runtime), [file]) === 1;
}

export function findTable(project: Project, name: string): TableDefinition {
  const matches = project.tables.filter((def) => tableName(def) === name || def.table === name);
  if (matches.length === 1) return matches[0];
  const known = project.tables.map(tableName).join(', ') || 'none';
  throw new UnknownTableError(
    matches.length
      ? `${name} is ambiguous in ${project.file}: ${matches.map(tableName).join(', ')}`
      : `no table ${name} in ${project.file} (tables: ${known})`,
  );
}
