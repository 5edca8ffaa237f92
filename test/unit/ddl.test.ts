import assert from 'node:assert/strict';
import { parseTableDefinition, type TableDefinitionInput } from '../../src/config/schema';
import { athenaPartitionSpec, renderCurrentView, renderTableDdl } from '../../src/sql/ddl';
import { renderSchemaChanges } from '../../src/sql/schema-changes';
import { athenaDialect, trinoDialect } from '../../src/sql/dialect';
import { dmsParquet } from '../../src/formats/dms-parquet';

const base: TableDefinitionInput = {
  database: 'shop',
  table: 'orders',
  location: 's3://lake/warehouse/shop/orders/',
  staging: { location: 's3://bucket/cdc/orders/' },
  columns: [
    { name: 'id', type: 'bigint' },
    { name: 'qty', type: 'int' },
    { name: 'price', type: 'decimal(10,2)' },
    { name: 'updated_at', type: 'timestamp' },
    { name: 'note', type: 'string' },
  ],
  primaryKey: ['id'],
  partitioning: ['bucket(id, 16)'],
};
const def = (over: Partial<TableDefinitionInput> = {}) => parseTableDefinition({ ...base, ...over });

describe('renderTableDdl (Trino)', () => {
  const ddl = renderTableDdl(def(), trinoDialect());

  it('renders 5 idempotent statements', () => {
    assert.equal(ddl.length, 4);
    for (const s of ddl) assert.match(s, /^CREATE (SCHEMA IF NOT EXISTS|TABLE IF NOT EXISTS) /, s);
    assert.equal(ddl[0], 'CREATE SCHEMA IF NOT EXISTS "iceberg"."shop"');
    assert.equal(ddl[1], 'CREATE SCHEMA IF NOT EXISTS "hive"."shop"');
  });

  it('staging table: op, commit ts, then the columns, all varchar, over the staging location', () => {
    assert.equal(
      ddl[2],
      'CREATE TABLE IF NOT EXISTS "hive"."shop"."orders__cdc" ("op" varchar, "commit_ts" varchar, "id" varchar, "qty" varchar, ' +
        `"price" varchar, "updated_at" varchar, "note" varchar) WITH (external_location = 's3://bucket/cdc/orders/', format = 'CSV')`,
    );
  });

  it('target: typed columns, the three _icetide_ columns, partitioning and location', () => {
    const t = ddl[3];
    assert.ok(t.startsWith('CREATE TABLE IF NOT EXISTS "iceberg"."shop"."orders" ('), t);
    assert.ok(
      t.includes(
        '"id" bigint, "qty" integer, "price" decimal(10,2), "updated_at" timestamp(6), "note" varchar, ' +
          '"_icetide_version" varchar, "_icetide_commit_ts" timestamp(6), "_icetide_deleted" boolean)',
      ),
      t,
    );
    assert.ok(
      t.includes(`WITH (format = 'PARQUET', partitioning = ARRAY['bucket(id, 16)'], location = 's3://lake/warehouse/shop/orders/')`),
      t,
    );
  });

  it('omits partitioning and location when not configured; warehouse sets the schema location', () => {
    const [schema, , , target] = renderTableDdl(def({ partitioning: [], location: undefined }), trinoDialect(), {
      warehouse: 's3://lake/wh/',
    });
    assert.ok(target.endsWith(`WITH (format = 'PARQUET')`), target);
    assert.equal(schema, `CREATE SCHEMA IF NOT EXISTS "iceberg"."shop" WITH (location = 's3://lake/wh/shop/')`);
  });

  it('the _current view hides tombstones and lists only user columns', () => {
    assert.equal(
      renderCurrentView(def(), trinoDialect()),
      'CREATE OR REPLACE VIEW "iceberg"."shop"."orders_current" AS SELECT "id", "qty", "price", "updated_at", "note" ' +
        'FROM "iceberg"."shop"."orders" WHERE NOT "_icetide_deleted"',
    );
  });
});

describe('renderTableDdl (Athena)', () => {
  it('throws without a table location', () => {
    assert.throws(() => renderTableDdl(def({ location: undefined }), athenaDialect()), /shop\.orders: Athena needs a location/);
  });

  const ddl = renderTableDdl(def({ partitioning: ['bucket(id, 16)', 'day(updated_at)', 'note'] }), athenaDialect());

  it('renders database, staging (OpenCSVSerde), Iceberg target and view, idempotently, with backticks', () => {
    assert.equal(ddl.length, 3);
    assert.equal(ddl[0], 'CREATE DATABASE IF NOT EXISTS `shop`');
    assert.equal(
      ddl[1],
      'CREATE EXTERNAL TABLE IF NOT EXISTS `shop`.`orders__cdc` (`op` string, `commit_ts` string, `id` string, `qty` string, `price` string, ' +
        "`updated_at` string, `note` string) ROW FORMAT SERDE 'org.apache.hadoop.hive.serde2.OpenCSVSerde' LOCATION 's3://bucket/cdc/orders/'",
    );
    assert.match(
      renderCurrentView(def(), athenaDialect()),
      /^CREATE OR REPLACE VIEW "awsdatacatalog"\."shop"\."orders_current" AS SELECT /,
    );
  });

  it('target: Hive types, Athena transform order, ICEBERG table properties', () => {
    const t = ddl[2];
    assert.ok(
      t.startsWith(
        'CREATE TABLE IF NOT EXISTS `shop`.`orders` (`id` bigint, `qty` int, `price` decimal(10,2), `updated_at` timestamp, `note` string, ',
      ),
      t,
    );
    assert.ok(t.includes('`_icetide_version` string, `_icetide_commit_ts` timestamp, `_icetide_deleted` boolean)'), t);
    assert.ok(t.includes(' PARTITIONED BY (bucket(16, `id`), day(`updated_at`), `note`) '), t);
    assert.ok(t.includes(" LOCATION 's3://lake/warehouse/shop/orders/' "), t);
    assert.ok(t.includes("TBLPROPERTIES ('table_type' = 'ICEBERG'"), t);
  });

  it('athenaPartitionSpec swaps bucket arguments', () => {
    assert.equal(athenaPartitionSpec('bucket(id, 16)'), 'bucket(16, `id`)');
    assert.equal(athenaPartitionSpec('bucket(id,8)'), 'bucket(8, `id`)');
    assert.equal(athenaPartitionSpec('month(ts)'), 'month(`ts`)');
  });
});

describe('renderSchemaChanges', () => {
  const existing = (types: Record<string, string>) => Object.entries(types).map(([name, type]) => ({ name, type }));
  const target = existing({
    id: 'bigint',
    qty: 'integer',
    price: 'decimal(10,2)',
    updated_at: 'timestamp(6)',
    note: 'varchar',
    _icetide_version: 'varchar',
  });
  const staging = existing({
    op: 'varchar',
    commit_ts: 'varchar',
    id: 'varchar',
    qty: 'varchar',
    price: 'varchar',
    updated_at: 'varchar',
    note: 'varchar',
  });

  it('changes nothing when the table matches its definition', () => {
    assert.deepEqual(renderSchemaChanges(def(), trinoDialect(), { target, staging }), []);
  });

  it('adds a column to the target and appends it to a positional staging table; widens int and decimal precision', () => {
    const changed = def({
      columns: [
        { name: 'id', type: 'bigint' },
        { name: 'qty', type: 'bigint' },
        { name: 'price', type: 'decimal(12,2)' },
        { name: 'updated_at', type: 'timestamp' },
        { name: 'note', type: 'string' },
        { name: 'email', type: 'string', added: true },
      ],
    });
    assert.deepEqual(renderSchemaChanges(changed, trinoDialect(), { target, staging }), [
      'ALTER TABLE "iceberg"."shop"."orders" ALTER COLUMN "qty" SET DATA TYPE bigint',
      'ALTER TABLE "iceberg"."shop"."orders" ALTER COLUMN "price" SET DATA TYPE decimal(12,2)',
      'ALTER TABLE "iceberg"."shop"."orders" ADD COLUMN "email" varchar',
      'ALTER TABLE "hive"."shop"."orders__cdc" ADD COLUMN "email" varchar',
    ]);
    assert.deepEqual(
      renderSchemaChanges(changed, athenaDialect(), {
        target: existing({ id: 'bigint', qty: 'int', price: 'decimal(10,2)', updated_at: 'timestamp', note: 'string' }),
        staging,
      }),
      [
        'ALTER TABLE `shop`.`orders` CHANGE COLUMN `qty` `qty` bigint',
        'ALTER TABLE `shop`.`orders` CHANGE COLUMN `price` `price` decimal(12,2)',
        'ALTER TABLE `shop`.`orders` ADD COLUMNS (`email` string)',
        'ALTER TABLE `shop`.`orders__cdc` ADD COLUMNS (`email` string)',
      ],
    );
  });

  it('widens a typed (Parquet) staging table with the target by creating it again (its files stay); text (CSV) staging stays', () => {
    const parquet = (qty: string, price: string) =>
      def({
        staging: { location: 's3://bucket/cdc/orders/', format: 'dms-parquet' },
        columns: [
          { name: 'id', type: 'bigint' },
          { name: 'qty', type: qty },
          { name: 'price', type: price },
          { name: 'updated_at', type: 'timestamp' },
          { name: 'note', type: 'string' },
        ],
      });
    const typed = existing({
      op: 'varchar',
      commit_ts: 'varchar',
      id: 'bigint',
      qty: 'integer',
      price: 'decimal(10,2)',
      updated_at: 'timestamp(6)',
      note: 'varchar',
    });
    assert.deepEqual(renderSchemaChanges(parquet('int', 'decimal(10,2)'), trinoDialect(), { target, staging: typed }), []);
    // Trino's Hive connector cannot change a column type: the external staging table is dropped and created again.
    const widened = parquet('bigint', 'decimal(12,2)');
    assert.deepEqual(renderSchemaChanges(widened, trinoDialect(), { target, staging: typed }), [
      'ALTER TABLE "iceberg"."shop"."orders" ALTER COLUMN "qty" SET DATA TYPE bigint',
      'ALTER TABLE "iceberg"."shop"."orders" ALTER COLUMN "price" SET DATA TYPE decimal(12,2)',
      'DROP TABLE IF EXISTS "hive"."shop"."orders__cdc"',
      dmsParquet.stagingTable(widened, trinoDialect()),
    ]);
    assert.match(dmsParquet.stagingTable(widened, trinoDialect()), /"qty" bigint, "price" decimal\(12,2\).*external_location/);
    assert.deepEqual(
      renderSchemaChanges(widened, athenaDialect(), {
        target: existing({ id: 'bigint', qty: 'int', price: 'decimal(10,2)', updated_at: 'timestamp', note: 'string' }),
        staging: existing({
          op: 'string',
          commit_ts: 'string',
          id: 'bigint',
          qty: 'int',
          price: 'decimal(10,2)',
          updated_at: 'timestamp',
          note: 'string',
        }),
      }),
      [
        'ALTER TABLE `shop`.`orders` CHANGE COLUMN `qty` `qty` bigint',
        'ALTER TABLE `shop`.`orders` CHANGE COLUMN `price` `price` decimal(12,2)',
        'DROP TABLE IF EXISTS `shop`.`orders__cdc`',
        dmsParquet.stagingTable(widened, athenaDialect()),
      ],
    );
    // CSV: the staging table reads text and the MERGE casts, so only the target widens.
    const csv = def({
      columns: [
        { name: 'id', type: 'bigint' },
        { name: 'qty', type: 'bigint' },
        { name: 'price', type: 'decimal(10,2)' },
        { name: 'updated_at', type: 'timestamp' },
        { name: 'note', type: 'string' },
      ],
    });
    assert.deepEqual(renderSchemaChanges(csv, trinoDialect(), { target, staging }), [
      'ALTER TABLE "iceberg"."shop"."orders" ALTER COLUMN "qty" SET DATA TYPE bigint',
    ]);
  });

  it('refuses what Iceberg cannot change in place, and a new column that is not last in a positional format', () => {
    const narrowed = def({
      columns: [
        { name: 'id', type: 'bigint' },
        { name: 'qty', type: 'string' },
      ],
    });
    assert.throws(
      () => renderSchemaChanges(narrowed, trinoDialect(), { target, staging }),
      /table shop\.orders: column qty is int in the table and string in the definition/,
    );
    const scale = def({
      columns: [
        { name: 'id', type: 'bigint' },
        { name: 'price', type: 'decimal(12,3)' },
      ],
    });
    assert.throws(() => renderSchemaChanges(scale, trinoDialect(), { target, staging }), /column price is decimal\(10,2\)/);
    const middle = def({
      columns: [
        { name: 'id', type: 'bigint' },
        { name: 'email', type: 'string' },
        { name: 'qty', type: 'int' },
        { name: 'price', type: 'decimal(10,2)' },
        { name: 'updated_at', type: 'timestamp' },
        { name: 'note', type: 'string' },
      ],
    });
    assert.throws(() => renderSchemaChanges(middle, trinoDialect(), { target, staging }), /column email is new but not last/);
  });

  it('JSON formats read by name: only the target changes', () => {
    const json = def({
      staging: { location: 's3://bucket/cdc/orders/', format: 'debezium-json' },
      ordering: {},
      columns: [...base.columns, { name: 'email', type: 'string' }],
    });
    assert.deepEqual(renderSchemaChanges(json, trinoDialect(), { target, staging: existing({ line: 'varchar' }) }), [
      'ALTER TABLE "iceberg"."shop"."orders" ADD COLUMN "email" varchar',
    ]);
  });
});
