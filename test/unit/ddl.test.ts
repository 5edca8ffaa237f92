import assert from 'node:assert/strict';
import { parseTableDefinition, type TableDefinitionInput } from '../../src/config/schema';
import { athenaPartitionSpec, renderTableDdl } from '../../src/sql/ddl';
import { athenaDialect, trinoDialect } from '../../src/sql/dialect';

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
    assert.equal(ddl.length, 5);
    for (const s of ddl) assert.match(s, /^CREATE (SCHEMA IF NOT EXISTS|TABLE IF NOT EXISTS|OR REPLACE VIEW) /, s);
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
      ddl[4],
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
    assert.equal(ddl.length, 4);
    assert.equal(ddl[0], 'CREATE DATABASE IF NOT EXISTS `shop`');
    assert.equal(
      ddl[1],
      'CREATE EXTERNAL TABLE IF NOT EXISTS `shop`.`orders__cdc` (`op` string, `commit_ts` string, `id` string, `qty` string, `price` string, ' +
        "`updated_at` string, `note` string) ROW FORMAT SERDE 'org.apache.hadoop.hive.serde2.OpenCSVSerde' LOCATION 's3://bucket/cdc/orders/'",
    );
    assert.match(ddl[3], /^CREATE OR REPLACE VIEW "awsdatacatalog"\."shop"\."orders_current" AS SELECT /);
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
