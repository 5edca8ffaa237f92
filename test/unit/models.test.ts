import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dependenciesOf, modelDefinitionSchema, selectModels, sourcesOf, type ModelDefinition } from '../../src/config/models';
import { loadProject, ProjectError } from '../../src/config/project';
import { periodsOf, renderPeriodCheck, renderPeriodReplace } from '../../src/sql/chunks';
import { renderFailingRows, renderTestCounts, renderTestQuery, rowCountFailure, testFailure } from '../../src/sql/data-tests';
import { athenaDialect, trinoDialect } from '../../src/sql/dialect';
import { renderBuild, renderDropTable, renderListTables, renderPublish, renderSourceVersions } from '../../src/sql/models';
import { renderScd2Merge } from '../../src/sql/scd2';
import { modelName } from '../../src/shared';

const trino = trinoDialect();
const athena = athenaDialect();
const model = (input: Record<string, unknown>): ModelDefinition =>
  modelDefinitionSchema.parse({ database: 'analytics', materialization: 'table', ...input });

async function project(text: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'icetide-models-'));
  await writeFile(join(dir, 'icetide.yaml'), text);
  return join(dir, 'icetide.yaml');
}

describe('models: project file, templates and the DAG', () => {
  it('generates one model per template row, in dependency order, with dependencies inferred from the SQL', async () => {
    const file = await project(`
models:
  - { name: totals, database: analytics, materialization: table, sql: "SELECT * FROM analytics.stg_a UNION ALL SELECT * FROM analytics.stg_c" }
templates:
  - template:
      name: "stg_{{ t }}"
      database: analytics
      materialization: table
      sql: "SELECT id, {{ col }} FROM raw.{{ t }}"
      tests: [{ not_null: [id] }]
    for:
      - { t: a, col: amount }
      - { t: b, col: price }
      - { t: c, col: cost }
`);
    const { models } = await loadProject(file, {});
    assert.deepEqual(models.map(modelName), ['analytics.stg_a', 'analytics.stg_c', 'analytics.totals', 'analytics.stg_b']);
    assert.equal(models.find((m) => m.name === 'stg_b')?.sql, 'SELECT id, price FROM raw.b');
    assert.deepEqual(
      dependenciesOf(
        models.find((m) => m.name === 'totals')!,
        models,
      ),
      ['analytics.stg_a', 'analytics.stg_c'],
    );
  });

  it('finds the icetide tables a model reads, and renders their newest data snapshots in one query', () => {
    const totals = modelDefinitionSchema.parse({
      name: 'totals',
      database: 'analytics',
      materialization: 'table',
      sql: 'SELECT * FROM shop.orders o JOIN "shop"."customers_current" c ON o.cid = c.id WHERE o.note <> \'shop.orders_archive\'',
    });
    assert.deepEqual(sourcesOf(totals, ['shop.orders', 'shop.orders_archive_x', 'shop.customers', 'shop.refunds']), [
      'shop.customers',
      'shop.orders',
    ]);
    // A table named only by dependsOn (read by a macro, a view, a function) is a source too: its snapshots decide.
    const viaView = modelDefinitionSchema.parse({
      name: 'via_view',
      database: 'analytics',
      materialization: 'table',
      dependsOn: ['shop.refunds'],
      sql: 'SELECT * FROM outside.refunds_view',
    });
    assert.deepEqual(sourcesOf(viaView, ['shop.orders', 'shop.refunds']), ['shop.refunds']);
    assert.equal(
      renderSourceVersions(['shop.orders', 'shop.customers'], trino),
      `SELECT 'shop.orders' AS source, CAST(max_by(snapshot_id, committed_at) AS varchar) AS snapshot FROM "iceberg"."shop"."orders$snapshots" WHERE operation <> 'replace'\n` +
        `UNION ALL\n` +
        `SELECT 'shop.customers' AS source, CAST(max_by(snapshot_id, committed_at) AS varchar) AS snapshot FROM "iceberg"."shop"."customers$snapshots" WHERE operation <> 'replace'`,
    );
  });

  it('reports a missing template parameter, a bad model and a cycle, with lines', async () => {
    const file = await project(`
models:
  - { name: x, database: analytics, materialization: table, sql: "SELECT * FROM analytics.y" }
  - { name: y, database: analytics, materialization: table, sql: "SELECT * FROM analytics.x" }
  - { name: z, database: analytics, materialization: incremental_by_period, sql: "SELECT 1" }
templates:
  - template: { name: "t_{{ t }}", database: analytics, materialization: table, sql: "SELECT {{ nope }}" }
    for: [{ t: a }]
`);
    const err = await loadProject(file, {}).catch((e: unknown) => e);
    assert.ok(err instanceof ProjectError);
    const text = err.problems.join('\n');
    assert.match(text, /icetide\.yaml:5: models\[2\]\.incremental: required \(model analytics\.z\)/);
    assert.match(text, /icetide\.yaml:8: templates\[0\]\.for\[0\]: no value for \{\{ nope \}\}/);
    assert.match(text, /cycle: analytics\.x → analytics\.y → analytics\.x/);
  });

  it('selects a model with what depends on it (model+) or what it needs (+model)', () => {
    const a = model({ name: 'a', sql: 'SELECT 1' });
    const b = model({ name: 'b', sql: 'SELECT * FROM analytics.a' });
    const c = model({ name: 'c', sql: 'SELECT * FROM analytics.b' });
    const d = model({ name: 'd', sql: 'SELECT 2' });
    const names = (ms: ModelDefinition[]) => ms.map((m) => m.name);
    assert.deepEqual(names(selectModels([a, b, c, d], ['b+'])), ['b', 'c']);
    assert.deepEqual(names(selectModels([a, b, c, d], ['+b'])), ['a', 'b']);
    assert.deepEqual(names(selectModels([a, b, c, d], [])), ['a', 'b', 'c', 'd']);
    assert.throws(() => selectModels([a], ['zz']), /no model zz/);
  });
});

describe('models: SQL', () => {
  const revenue = model({ name: 'revenue', sql: 'SELECT day, sum(x) AS total FROM shop.orders GROUP BY 1;', partitioning: ['month(day)'] });

  it('builds a version by CTAS (format, partitioning, location; Athena: Iceberg with a location), publishes by replacing the view, drops in each dialect', () => {
    assert.equal(
      renderBuild(revenue, 'revenue__v1', trino),
      `CREATE TABLE "iceberg"."analytics"."revenue__v1" WITH (format = 'PARQUET', partitioning = ARRAY['month(day)']) AS\n` +
        `SELECT * FROM (\nSELECT day, sum(x) AS total FROM shop.orders GROUP BY 1\n) AS model`,
    );
    assert.match(
      renderBuild(revenue, 'revenue__v1', athena, 's3://wh/iceberg'),
      /WITH \(table_type = 'ICEBERG', is_external = false, format = 'PARQUET', partitioning = ARRAY\['month\(day\)'\], location = 's3:\/\/wh\/iceberg\/analytics\/revenue__v1\/'\) AS/,
    );
    assert.throws(() => renderBuild(revenue, 'v', athena), /Athena needs a location \(the model's, or ICETIDE_WAREHOUSE\)/);
    // The model's own format and location, in both dialects: each table in its own folder under it.
    const orc = { ...revenue, format: 'ORC' as const, location: 's3://lake/models/' };
    assert.match(
      renderBuild(orc, 'revenue__v2', trino),
      /WITH \(format = 'ORC', partitioning = .*, location = 's3:\/\/lake\/models\/revenue__v2\/'\) AS/,
    );
    assert.match(
      renderBuild(orc, 'revenue__v2', athena, 's3://wh/iceberg'),
      /format = 'ORC', .*location = 's3:\/\/lake\/models\/revenue__v2\/'\) AS/,
    );
    assert.equal(
      renderPublish(revenue, 'revenue__v1', trino),
      'CREATE OR REPLACE VIEW "iceberg"."analytics"."revenue" AS SELECT * FROM "iceberg"."analytics"."revenue__v1"',
    );
    assert.equal(renderDropTable('analytics', 'revenue__v1', athena), 'DROP TABLE IF EXISTS `analytics`.`revenue__v1`');
    assert.match(renderListTables('analytics', 'revenue__v', trino), /LIKE 'revenue\\_\\_v%' ESCAPE '\\'$/);
  });

  it('renders each data test as a query for its failing rows, and reads the count and sample back', () => {
    const rel = '"iceberg"."analytics"."v1"';
    assert.equal(renderFailingRows({ not_null: ['a', 'b'] }, rel, trino), `SELECT * FROM ${rel} WHERE "a" IS NULL OR "b" IS NULL`);
    assert.equal(
      renderFailingRows({ unique: ['a'] }, rel, trino),
      `SELECT "a", count(*) AS occurrences FROM ${rel} GROUP BY "a" HAVING count(*) > 1`,
    );
    assert.match(renderFailingRows({ accepted_values: { column: 's', values: ['x', "o'k", 3] } }, rel, trino), /NOT IN \('x', 'o''k', 3\)/);
    assert.match(
      renderFailingRows({ relationships: { column: 'pid', to: 'shop.products', field: 'id' } }, rel, trino),
      /LEFT JOIN "iceberg"."shop"."products" AS parent ON child."pid" = parent."id" WHERE child."pid" IS NOT NULL AND parent."id" IS NULL/,
    );
    assert.match(renderFailingRows({ row_count: { min: 1, max: 10 } }, rel, trino), /WHERE n_rows < 1 OR n_rows > 10$/);
    assert.equal(renderFailingRows({ sql: 'SELECT * FROM {{ this }} WHERE x < 0;' }, rel, trino), `\nSELECT * FROM ${rel} WHERE x < 0\n`);
    assert.match(
      renderTestQuery({ unique: ['a'] }, rel, trino),
      /^SELECT failing\.\*, count\(\*\) OVER \(\) AS icetide_failures FROM \(.*\) AS failing LIMIT 5$/,
    );
    assert.deepEqual(testFailure([{ a: 1, occurrences: 2, icetide_failures: 7 }]), { failures: 7, sample: [{ a: 1, occurrences: 2 }] });
    assert.equal(testFailure([]), undefined);
  });

  it('counts the failures of all tests in one query, each row naming its test by index', () => {
    const rel = '"iceberg"."analytics"."v1"';
    const sql = renderTestCounts([{ not_null: ['a'] }, { unique: ['a'] }], rel, trino);
    assert.equal(
      sql,
      `SELECT 0 AS test, count(*) AS icetide_failures FROM (SELECT * FROM ${rel} WHERE "a" IS NULL) AS failing_0\n` +
        `UNION ALL\n` +
        `SELECT 1 AS test, count(*) AS icetide_failures FROM (SELECT "a", count(*) AS occurrences FROM ${rel} GROUP BY "a" HAVING count(*) > 1) AS failing_1`,
    );
  });

  it('decides a row_count test from a reported row count, as its query would', () => {
    assert.equal(rowCountFailure({ row_count: { min: 1, max: 10 } }, 10), undefined);
    assert.deepEqual(rowCountFailure({ row_count: { min: 1 } }, 0), { failures: 1, sample: [{ n_rows: 0 }] });
    assert.deepEqual(rowCountFailure({ row_count: { max: 3 } }, 4), { failures: 1, sample: [{ n_rows: 4 }] });
  });

  it('chunks an incremental model by period, each chunk replacing its period whole', () => {
    const daily = model({
      name: 'daily',
      sql: 'SELECT * FROM shop.events',
      materialization: 'incremental_by_period',
      incremental: { column: 'day', period: 'month', start: '2026-01-15', end: '2026-03-02' },
    }) as Extract<ModelDefinition, { materialization: 'incremental_by_period' }>;
    assert.deepEqual(periodsOf(daily, '2026-12-01'), [
      { from: '2026-01-01', to: '2026-02-01' },
      { from: '2026-02-01', to: '2026-03-01' },
      { from: '2026-03-01', to: '2026-04-01' },
    ]);
    // One MERGE, one commit: the SELECT's rows of the period inserted, one flagged row deleting every old row of it.
    const february = { from: '2026-02-01', to: '2026-03-01' };
    const replace = renderPeriodReplace(daily, february, ['id', 'day'], trino);
    assert.equal(
      replace,
      [
        'MERGE INTO "iceberg"."analytics"."daily" AS t',
        'USING (',
        'SELECT model."id", model."day", false AS "_icetide_period_delete" FROM (',
        'SELECT * FROM shop.events',
        ') AS model',
        `WHERE model."day" >= DATE '2026-02-01' AND model."day" < DATE '2026-03-01'`,
        'UNION ALL',
        'SELECT existing."id", existing."day", true FROM (VALUES 1) AS one (x) LEFT JOIN (SELECT * FROM "iceberg"."analytics"."daily" WHERE false) AS existing ON true',
        ') AS s',
        `ON s."_icetide_period_delete" AND t."day" >= DATE '2026-02-01' AND t."day" < DATE '2026-03-01'`,
        'WHEN MATCHED THEN DELETE',
        'WHEN NOT MATCHED AND NOT s."_icetide_period_delete" THEN INSERT ("id", "day") VALUES (s."id", s."day")',
      ].join('\n'),
    );
    // Athena's MERGE on Iceberg takes the same statement; only the table is named in its catalog.
    assert.equal(renderPeriodReplace(daily, february, ['id', 'day'], athena), replace.replaceAll('"iceberg"', '"awsdatacatalog"'));
    assert.match(
      renderPeriodCheck(daily, { from: '2026-01-01', to: '2026-04-01' }, trino),
      /FULL OUTER JOIN source s ON b\.period = s\.period\nWHERE coalesce\(b\.n, 0\) <> coalesce\(s\.n, 0\)/,
    );
  });

  it('keeps SCD2 history with one MERGE: close changed and vanished keys, insert new versions, unchanged rows untouched', () => {
    const history = model({
      name: 'history',
      sql: 'SELECT id, name FROM shop.customers',
      materialization: 'scd2',
      scd2: { key: ['id'] },
    }) as Extract<ModelDefinition, { materialization: 'scd2' }>;
    const merge = renderScd2Merge(history, ['id', 'name'], '2026-11-29 10:00:00.000', trino);
    assert.match(merge, /^MERGE INTO "iceberg"."analytics"."history" AS h/);
    assert.match(merge, /to_hex\(md5\(to_utf8\(json_format\(CAST\(ARRAY\[CAST\(model."name" AS varchar\)\] AS JSON\)\)\)\)\) AS row_hash/);
    assert.match(
      merge,
      /SELECT NULL, s\."id", s\."name", s\.row_hash, false AS icetide_gone FROM .* JOIN "iceberg"."analytics"."history" AS c ON c\."id" = s\."id" AND c\.is_current AND c\.row_hash <> s\.row_hash/s,
    );
    assert.match(merge, /WHERE c\.is_current AND NOT EXISTS/);
    assert.match(
      merge,
      /WHEN MATCHED AND \(u\.icetide_gone OR h\.row_hash <> u\.row_hash\) THEN UPDATE SET valid_to = TIMESTAMP '2026-11-29 10:00:00\.000', is_current = false/,
    );
    assert.match(
      merge,
      /WHEN NOT MATCHED AND NOT u\.icetide_gone THEN INSERT \("id", "name", "row_hash", "valid_from", "valid_to", "is_current"\)/,
    );
  });
});
