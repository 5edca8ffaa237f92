import assert from 'node:assert/strict';
import { parseTableDefinition, type TableDefinitionInput } from '../../src/config/schema';
import { athenaDialect, trinoDialect } from '../../src/sql/dialect';
import {
  renderCompaction,
  renderExpireSnapshots,
  renderFileStats,
  renderMaintenanceProperties,
  renderPurgeTombstones,
  renderRemoveOrphans,
  renderExpirySample,
  renderSnapshotStats,
  renderSnapshotsKept,
} from '../../src/sql/maintenance';
import { shopOrders } from './fixtures';

const def = (over: Partial<TableDefinitionInput> = {}) =>
  parseTableDefinition({
    ...shopOrders({ name: 'status', type: 'string' }),
    partitioning: ['bucket(id, 16)'],
    location: 's3://lake/shop/orders/',
    maintenance: { targetFileSize: '256MB', retain: { snapshots: '5d', orphans: '7d', tombstones: '7d' } },
    ...over,
  });

describe('maintenance SQL', () => {
  it('Trino: whole-table optimize with the target size, and retention-driven procedures', () => {
    const trino = trinoDialect();
    assert.equal(renderCompaction(def(), trino), `ALTER TABLE "iceberg"."shop"."orders" EXECUTE optimize(file_size_threshold => '256MB')`);
    assert.equal(
      renderExpireSnapshots(def(), trino),
      `ALTER TABLE "iceberg"."shop"."orders" EXECUTE expire_snapshots(retention_threshold => '5d')`,
    );
    assert.equal(
      renderRemoveOrphans(def(), trino),
      `ALTER TABLE "iceberg"."shop"."orders" EXECUTE remove_orphan_files(retention_threshold => '7d')`,
    );
    assert.equal(renderMaintenanceProperties(def(), trino), undefined);
  });

  it('Athena: OPTIMIZE BIN_PACK, VACUUM driven by table properties set from the definition, no separate orphan step', () => {
    const athena = athenaDialect();
    assert.equal(renderCompaction(def(), athena), 'OPTIMIZE shop.orders REWRITE DATA USING BIN_PACK');
    assert.equal(renderExpireSnapshots(def(), athena), 'VACUUM shop.orders');
    assert.equal(renderRemoveOrphans(def(), athena), undefined);
    assert.equal(
      renderMaintenanceProperties(def(), athena),
      `ALTER TABLE shop.orders SET TBLPROPERTIES ('vacuum_max_snapshot_age_seconds'='432000', ` +
        `'vacuum_min_snapshots_to_keep'='1', 'write_target_data_file_size_bytes'='268435456', ` +
        `'optimize_rewrite_delete_file_threshold'='1', 'optimize_rewrite_data_file_threshold'='2')`,
    );
  });

  it('purges only tombstones older than the horizon, in both dialects, and rejects a malformed horizon', () => {
    for (const [dialect, name] of [
      [trinoDialect(), '"iceberg"."shop"."orders"'],
      [athenaDialect(), '"awsdatacatalog"."shop"."orders"'],
    ] as const) {
      assert.equal(
        renderPurgeTombstones(def(), dialect, '2026-11-17 03:00:00.000000'),
        `DELETE FROM ${name} WHERE "_icetide_deleted" AND "_icetide_commit_ts" < TIMESTAMP '2026-11-17 03:00:00.000000'`,
      );
    }
    assert.throws(() => renderPurgeTombstones(def(), trinoDialect(), "2026-11-17'; DROP TABLE x; --"), /not a purge horizon/);
  });

  it('reads files per partition and kind, and snapshots past the retention, from the metadata tables', () => {
    assert.equal(
      renderFileStats(def(), trinoDialect()),
      `SELECT json_format(CAST("partition" AS JSON)) AS part, content, count(*) AS files, sum(file_size_in_bytes) AS bytes ` +
        `FROM "iceberg"."shop"."orders$files" GROUP BY 1, 2`,
    );
    assert.match(
      renderFileStats(def({ partitioning: [] }), athenaDialect()),
      /^SELECT '\{\}' AS part, .* FROM "awsdatacatalog"\."shop"\."orders\$files"/,
    );
    assert.equal(
      renderSnapshotStats(def(), trinoDialect()),
      `SELECT count(*) AS snapshots, count_if(committed_at < current_timestamp - parse_duration('5d')) AS expirable ` +
        `FROM "iceberg"."shop"."orders$snapshots"`,
    );
    assert.equal(
      renderExpirySample(def(), athenaDialect(), 20),
      `SELECT CAST(snapshot_id AS varchar) AS snapshot, manifest_list FROM "awsdatacatalog"."shop"."orders$snapshots" ` +
        `WHERE committed_at < current_timestamp - parse_duration('5d') ORDER BY committed_at LIMIT 20`,
    );
    assert.equal(
      renderSnapshotsKept(def(), trinoDialect(), ['123', '-45']),
      `SELECT CAST(snapshot_id AS varchar) AS snapshot FROM "iceberg"."shop"."orders$snapshots" WHERE snapshot_id IN (123, -45)`,
    );
    assert.throws(() => renderSnapshotsKept(def(), trinoDialect(), ['1) OR (1=1']), /not a snapshot id/);
  });
});
