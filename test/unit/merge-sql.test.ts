import assert from 'node:assert/strict';
import { parseTableDefinition, type TableDefinitionInput } from '../../src/config/schema';
import { athenaDialect, dmlType, trinoDialect } from '../../src/sql/dialect';
import { filesThatFit, renderDedupedSource, renderMerge } from '../../src/sql/merge';
import { changesCanTie, renderOrderingTies } from '../../src/sql/ties';
import { isTooManyPartitions, partitionBudget, partitionKey, renderPartitionSlices } from '../../src/sql/partitions';

const base: TableDefinitionInput = {
  database: 'shop',
  table: 'orders',
  staging: { location: 's3://bucket/cdc/orders/' },
  columns: [
    { name: 'tenant', type: 'string' },
    { name: 'id', type: 'bigint' },
    { name: 'seq', type: 'bigint' },
    { name: 'note', type: 'string' },
  ],
  primaryKey: ['tenant', 'id'],
  ordering: { sequence: 'seq' },
};
const def = (over: Partial<TableDefinitionInput> = {}) => parseTableDefinition({ ...base, ...over });
const FILES = ['s3://bucket/cdc/orders/20240101-000001.csv', "s3://bucket/cdc/orders/o'brien.csv"];
const clauses = (sql: string) => sql.split('\n').filter((l) => l.startsWith('WHEN '));

describe('renderMerge / renderDedupedSource', () => {
  it('reads only the listed files, quoting each path and escaping single quotes', () => {
    const sql = renderMerge(def(), trinoDialect(), FILES);
    assert.ok(sql.includes(`WHERE "$path" IN ('s3://bucket/cdc/orders/20240101-000001.csv', 's3://bucket/cdc/orders/o''brien.csv')`), sql);
    assert.ok(!sql.includes("o'brien"));
  });

  it('confines hostile object keys to their string literals: the statement around them is the same as for plain keys', () => {
    const hostile = [
      "it's'); DROP TABLE shop.orders; --.csv",
      'new\nline -- ; .csv',
      "ünï/cødé-日本 '' \\ %2F.csv",
      `${'d'.repeat(240)}/${'e'.repeat(240)}/${'f'.repeat(240)}/${'g'.repeat(240)}.csv`,
    ].map((key) => `s3://bucket/cdc/orders/${key}`);
    const plain = hostile.map((_, i) => `s3://bucket/cdc/orders/plain${i}.csv`);
    // Strip every well-formed SQL string literal: what remains is the statement's structure.
    const structure = (sql: string) => sql.replace(/'(?:[^']|'')*'/g, "'…'");
    for (const dialect of [trinoDialect(), athenaDialect()]) {
      const sql = renderMerge(def(), dialect, hostile);
      assert.equal(structure(sql), structure(renderMerge(def(), dialect, plain)));
      // And each literal reads back as exactly its key.
      const literals = [...sql.matchAll(/'((?:[^']|'')*)'/g)].map((m) => m[1].replace(/''/g, "'"));
      for (const uri of hostile) assert.ok(literals.includes(uri), uri);
    }
  });

  it('throws on an empty file list', () => {
    assert.throws(() => renderMerge(def(), trinoDialect(), []), /at least one change file/);
  });

  it('puts the composite primary key in PARTITION BY and ON', () => {
    const sql = renderMerge(def(), trinoDialect(), FILES);
    assert.ok(sql.includes('PARTITION BY "tenant", "id" ORDER BY "_icetide_version" DESC'), sql);
    assert.ok(sql.includes('\nON t."tenant" = s."tenant" AND t."id" = s."id"\n'), sql);
    assert.ok(sql.includes('WHERE _icetide_rank = 1'));
  });

  it('casts each column from NULLIF(text, nullValue) to its DML type', () => {
    const sql = renderDedupedSource(def({ staging: { location: 's3://bucket/cdc/orders/', nullValue: 'NULL' } }), trinoDialect(), {
      files: FILES,
    });
    assert.ok(sql.includes(`CAST(NULLIF("id", 'NULL') AS bigint) AS "id"`), sql);
    assert.ok(sql.includes(`CAST(NULLIF("note", 'NULL') AS varchar) AS "note"`), sql);
    assert.ok(sql.includes(`CAST("commit_ts" AS timestamp(6)) AS "_icetide_commit_ts"`), sql);
    assert.equal(dmlType('int'), 'integer');
    assert.equal(dmlType('timestamp'), 'timestamp(6)');
    assert.equal(dmlType('decimal(10,2)'), 'decimal(10,2)');
  });

  it('tombstone mode: guarded delete becomes a tombstone update, unconditional insert', () => {
    const sql = renderMerge(def(), trinoDialect(), FILES);
    const [del, upd, ins, ...rest] = clauses(sql);
    assert.equal(rest.length, 0);
    assert.match(del, /^WHEN MATCHED AND s\."_icetide_version" > t\."_icetide_version" AND s\."_icetide_op" = 'D' THEN UPDATE SET /);
    assert.ok(del.includes('"note" = NULL') && del.includes('"seq" = NULL'), del);
    assert.ok(!del.includes('"id" = NULL') && !del.includes('"tenant" = NULL'), 'keys are kept in a tombstone');
    assert.ok(del.endsWith('"_icetide_deleted" = true'), del);
    assert.ok(del.includes('"_icetide_version" = s."_icetide_version"'));
    assert.match(upd, /^WHEN MATCHED AND s\."_icetide_version" > t\."_icetide_version" THEN UPDATE SET .*"_icetide_deleted" = false$/);
    assert.ok(upd.includes('"note" = s."note"') && !upd.includes('"id" = s."id"'), upd);
    assert.match(
      ins,
      /^WHEN NOT MATCHED THEN INSERT \("tenant", "id", "seq", "note", "_icetide_version", "_icetide_commit_ts", "_icetide_deleted"\)/,
    );
    assert.ok(ins.includes(`CASE WHEN s."_icetide_op" = 'D' THEN NULL ELSE s."note" END`), ins);
    assert.ok(ins.endsWith(`s."_icetide_op" = 'D')`), ins);
    assert.ok(!sql.includes('THEN DELETE'));
  });

  it('hard mode: guarded DELETE, inserts only non-deletes', () => {
    const sql = renderMerge(def({ deletes: 'hard' }), trinoDialect(), FILES);
    const [del, upd, ins, ...rest] = clauses(sql);
    assert.equal(rest.length, 0);
    assert.equal(del, `WHEN MATCHED AND s."_icetide_version" > t."_icetide_version" AND s."_icetide_op" = 'D' THEN DELETE`);
    assert.ok(upd.startsWith('WHEN MATCHED AND s."_icetide_version" > t."_icetide_version" THEN UPDATE SET'));
    assert.ok(ins.startsWith(`WHEN NOT MATCHED AND NOT s."_icetide_op" = 'D' THEN INSERT`), ins);
    assert.ok(ins.endsWith('s."_icetide_commit_ts", false)'), ins);
    assert.ok(!sql.includes('"_icetide_deleted" = true'));
  });

  it('guards every MATCHED clause with the version comparison, in both modes', () => {
    for (const deletes of ['tombstone', 'hard'] as const) {
      const matched = clauses(renderMerge(def({ deletes }), trinoDialect(), FILES)).filter((c) => c.startsWith('WHEN MATCHED'));
      assert.equal(matched.length, 2);
      for (const c of matched) assert.ok(c.startsWith('WHEN MATCHED AND s."_icetide_version" > t."_icetide_version"'), c);
    }
  });

  it('builds the version string: initial mark and iso ts, padded sequence, the path only without a sequence, op rank joined by chr(1)', () => {
    const sql = renderDedupedSource(def(), trinoDialect(), { files: FILES });
    const relative = `substr("_icetide_path", ${'s3://bucket/cdc/orders/'.length + 1})`;
    assert.ok(
      sql.includes(
        `CASE WHEN "_icetide_initial" THEN '#' ELSE '' END || to_iso8601("_icetide_commit_ts") || chr(1) || "_icetide_sequence" || chr(1) || ` +
          `CASE WHEN "_icetide_sequence" = '' THEN ${relative} ELSE '' END || chr(1) || ` +
          `CASE "_icetide_op" WHEN 'I' THEN '1' WHEN 'U' THEN '2' ELSE '3' END AS "_icetide_version"`,
      ),
      sql,
    );
    // DMS CSV: the commit time is its timestamp column, the sequence the table's sequence column, padded; full-load
    // files (LOAD*) are initial copies.
    assert.ok(
      sql.includes(
        `CASE "op" WHEN 'I' THEN 'I' WHEN 'U' THEN 'U' WHEN 'D' THEN 'D' END AS "_icetide_op", CAST("commit_ts" AS timestamp(6)) AS "_icetide_commit_ts", CASE WHEN regexp_like("seq", '^[0-9]{1,40}$') THEN lpad("seq", 40, '0') END AS "_icetide_sequence", ` +
          `regexp_like("$path", '/LOAD[^/]*$') AS "_icetide_initial"`,
      ),
      sql,
    );
  });

  it('marks Debezium snapshot reads (op r) as initial copies, other formats never', () => {
    const debezium = renderDedupedSource(def({ staging: { ...base.staging, format: 'debezium-json' }, ordering: {} }), trinoDialect(), {
      files: FILES,
    });
    assert.ok(debezium.includes(`json_extract_scalar(e, '$["op"]') = 'r' AS "_icetide_initial"`), debezium);
    const stream = renderDedupedSource(def({ staging: { ...base.staging, format: 'dynamodb-stream' }, ordering: {} }), trinoDialect(), {
      files: FILES,
    });
    assert.ok(stream.includes(`false AS "_icetide_initial"`), stream);
  });

  it('pads a string sequence of digits so it compares as a number, other text as it is; empty when there is none', () => {
    const strSeq = renderDedupedSource(
      def({
        columns: [
          { name: 'id', type: 'bigint' },
          { name: 'seq', type: 'string' },
        ],
        primaryKey: ['id'],
      }),
      trinoDialect(),
      { files: FILES },
    );
    assert.ok(
      strSeq.includes(
        `coalesce(CASE WHEN regexp_like("seq", '^[0-9]{1,40}$') THEN lpad("seq", 40, '0') END, "seq") AS "_icetide_sequence"`,
      ),
      strSeq,
    );
    const noSeq = renderDedupedSource(def({ ordering: {} }), trinoDialect(), { files: FILES });
    assert.ok(noSeq.includes(`'' AS "_icetide_sequence"`), noSeq);
    assert.ok(!noSeq.includes('lpad'));
  });

  it('restricts the target to the batch key range when one is given, and only then', () => {
    const pruned = renderMerge(def(), trinoDialect(), FILES, { keyRange: { column: 'id', min: '-5', max: '42' } });
    assert.match(pruned, /\nON t\."tenant" = s\."tenant" AND t\."id" = s\."id" AND t\."id" BETWEEN -5 AND 42\n/);
    assert.doesNotMatch(renderMerge(def(), trinoDialect(), FILES), /BETWEEN/);
    assert.throws(
      () => renderMerge(def(), trinoDialect(), FILES, { keyRange: { column: 'id', min: '1; DROP TABLE x', max: '2' } }),
      /integers/,
    );
  });

  it('names tables per dialect', () => {
    const trino = renderMerge(def(), trinoDialect(), FILES);
    assert.ok(trino.startsWith('MERGE INTO "iceberg"."shop"."orders" AS t\n'));
    assert.ok(trino.includes('FROM "hive"."shop"."orders__cdc" WHERE'));
    const custom = renderMerge(def(), trinoDialect({ iceberg: 'lake', hive: 'raw' }), FILES);
    assert.ok(custom.startsWith('MERGE INTO "lake"."shop"."orders" AS t') && custom.includes('FROM "raw"."shop"."orders__cdc"'));
    const athena = renderMerge(def(), athenaDialect(), FILES);
    assert.ok(athena.startsWith('MERGE INTO "awsdatacatalog"."shop"."orders" AS t\n'));
    assert.ok(athena.includes('FROM "awsdatacatalog"."shop"."orders__cdc" WHERE'));
    assert.ok(!athena.includes('"iceberg"') && !athena.includes('"hive"'));
    assert.equal(athenaDialect().currentView(def()), '"awsdatacatalog"."shop"."orders_current"');
  });
});

describe('ordering rule (the version string, outside SQL)', () => {
  // Mirrors renderDedupedSource: '#' for an initial copy then to_iso8601(ts), lpad(seq, 40, '0') ('' without one), the
  // relative path only without a sequence, op rank.
  type Ev = { ts: string; seq?: number; path: string; op: 'I' | 'U' | 'D'; initial?: boolean };
  const version = (e: Ev) =>
    [
      (e.initial ? '#' : '') + e.ts.replace(' ', 'T'),
      e.seq === undefined ? '' : String(e.seq).padStart(40, '0'),
      e.seq === undefined ? e.path : '',
      { I: '1', U: '2', D: '3' }[e.op],
    ].join('\u0001');
  const newest = (...events: Ev[]) => events.reduce((a, b) => (version(b) > version(a) ? b : a));
  const e: Ev = { ts: '2024-01-01 00:00:01.000000', seq: 5, path: '20240101-a.csv', op: 'U' };

  it('later commit time wins, whatever the sequence, path or op', () => {
    const later = { ...e, ts: '2024-01-01 00:00:01.000001', seq: 1, path: '0.csv', op: 'I' as const };
    assert.equal(newest({ ...e, seq: 99, op: 'D' }, later), later);
  });
  it('equal commit time: larger sequence wins numerically (9 < 10)', () => {
    const ten = { ...e, seq: 10, path: '0.csv' };
    assert.equal(newest(ten, { ...e, seq: 9, path: 'z.csv', op: 'D' }), ten);
    assert.equal(newest({ ...e, seq: 9 }, ten), ten);
  });
  it('the same change delivered again under another path has the same version: it rewrites nothing', () => {
    assert.equal(version({ ...e, path: 'redrop/20240101-a.csv' }), version(e));
  });
  it('without a sequence, equal commit times: the later file path wins (DMS names files by time)', () => {
    const later = { ...e, seq: undefined, path: '20240101-b.csv', op: 'I' as const };
    assert.equal(newest({ ...e, seq: undefined, op: 'D' }, later), later);
  });
  it('an initial copy (full load, snapshot read) ranks below every captured change of its key, even an older one', () => {
    const load = { ...e, ts: '2024-06-01 00:00:00.000000', seq: 99, initial: true, path: 'LOAD00000001.csv' };
    const captured = { ...e, op: 'I' as const };
    assert.equal(newest(load, captured), captured);
    assert.equal(
      newest(load, { ...load, ts: '2024-06-01 00:00:00.000001' }).ts,
      '2024-06-01 00:00:00.000001',
      'loads among themselves by time',
    );
  });
  it('all else equal: D beats U beats I', () => {
    const [i, u, d] = (['I', 'U', 'D'] as const).map((op) => ({ ...e, op }));
    assert.equal(newest(i, u), u);
    assert.equal(newest(u, d), d);
    assert.equal(newest(d, i, u), d);
  });
});

describe('engine limits by construction', () => {
  it("sizes the whole statement to Athena's 262,144 bytes: 200 columns of 27-character names and a 200 KB file list", () => {
    const columns = Array.from({ length: 200 }, (_, i) => ({
      name: `column_with_a_long_name_${String(i).padStart(3, '0')}`,
      type: 'string',
    }));
    const wide = parseTableDefinition({ ...base, columns: [...base.columns, ...columns] });
    const files = Array.from({ length: 3_300 }, (_, i) => `s3://bucket/cdc/orders/2026/11/30/20261130-${String(i).padStart(10, '0')}.csv`);
    const athena = athenaDialect();
    const fitting = filesThatFit(wide, athena, files);
    assert.ok(fitting > 0 && fitting < files.length, `${fitting} of ${files.length} files fit`);
    const size = (n: number) => Buffer.byteLength(renderMerge(wide, athena, files.slice(0, n)));
    assert.ok(size(fitting) <= 262_144 - 4096, `${size(fitting)} bytes with ${fitting} files`);
    assert.ok(size(fitting + 1) > 262_144 - 4096 - 200, 'the cut is tight, not a guess');
    // Trino takes a million bytes: the same batch fits whole.
    assert.equal(filesThatFit(wide, trinoDialect(), files.slice(0, 1000)), 1000);
  });

  it('says when not even one file fits (a definition too wide for the engine)', () => {
    const columns = Array.from({ length: 1400 }, (_, i) => ({ name: `c${i}_${'x'.repeat(100)}`.slice(0, 60), type: 'string' }));
    const huge = parseTableDefinition({ ...base, columns: [...base.columns, ...columns] });
    assert.equal(filesThatFit(huge, athenaDialect(), FILES), 0);
  });

  it('renders the partition key the way the table partitions (day, truncate; buckets divide the budget)', () => {
    const byDay = def({ columns: [...base.columns, { name: 'ts', type: 'timestamp' }], partitioning: ['day(ts)', 'bucket(id, 4)'] });
    assert.equal(partitionKey(byDay), `coalesce(CAST(date_trunc('day', "ts") AS varchar), 'NULL' || chr(2))`);
    // 100 partitions a statement, one kept for tombstones (they null ts), four buckets per day: 24 days a slice.
    assert.equal(partitionBudget(byDay), 24);
    const truncated = def({ partitioning: ['truncate(id, 10)', 'truncate(tenant, 2)'], deletes: 'hard' });
    assert.equal(
      partitionKey(truncated),
      `coalesce(CAST("id" - mod(mod("id", 10) + 10, 10) AS varchar), 'NULL' || chr(2)) || chr(1) || coalesce(substr("tenant", 1, 2), 'NULL' || chr(2))`,
    );
    assert.equal(partitionBudget(truncated), 100);
    assert.equal(partitionKey(def({ partitioning: ['bucket(id, 16)'] })), undefined, 'buckets alone never exceed their count');
    assert.equal(partitionKey(def()), undefined);
  });

  it('restricts a slice MERGE to its partition keys, on the source only', () => {
    const byDay = def({ columns: [...base.columns, { name: 'ts', type: 'timestamp' }], partitioning: ['day(ts)'] });
    const slice = { first: '2026-01-01 00:00:00.000000', last: "2026-04-1' 00", partitions: 100 };
    const sql = renderMerge(byDay, trinoDialect(), FILES, { slice });
    assert.ok(
      sql.includes(
        `AS batch WHERE coalesce(CAST(date_trunc('day', "ts") AS varchar), 'NULL' || chr(2)) BETWEEN '2026-01-01 00:00:00.000000' AND '2026-04-1'' 00') AS s`,
      ),
      sql,
    );
    assert.ok(renderPartitionSlices(byDay, 'SELECT 1', 99).includes('/ 99 AS slice'));
    assert.equal(
      isTooManyPartitions({ message: 'Exceeded limit of 100 open writers for partitions', code: 'ICEBERG_TOO_MANY_OPEN_PARTITIONS' }),
      true,
    );
    assert.equal(isTooManyPartitions({ message: 'HIVE_TOO_MANY_OPEN_PARTITIONS: Exceeded limit of 100 open writers' }), true);
    assert.equal(isTooManyPartitions({ message: 'ICEBERG_COMMIT_ERROR' }), false);
  });
});

describe('ordering ties (sql/ties.ts)', () => {
  it('are looked for only where nothing orders changes of one commit time: DMS without a sequence column', () => {
    assert.equal(changesCanTie(def({ ordering: {} })), true);
    assert.equal(changesCanTie(def()), false, 'a sequence orders them');
    assert.equal(changesCanTie(def({ ordering: {}, staging: { location: 's3://bucket/cdc/orders/', format: 'debezium-json' } })), false);
  });

  it('count keys with different changes at one commit time in one file, never the same change twice', () => {
    const sql = renderOrderingTies(def({ ordering: {} }), trinoDialect(), { files: FILES });
    assert.ok(sql.includes(`WHERE "_icetide_sequence" = '' GROUP BY "_icetide_path", "_icetide_commit_ts", "tenant", "id"`), sql);
    assert.ok(
      sql.includes(
        `HAVING count(DISTINCT "_icetide_op" || chr(1) || coalesce(CAST("seq" AS varchar), chr(2)) || chr(1) || coalesce(CAST("note" AS varchar), chr(2))) > 1`,
      ),
      sql,
    );
    assert.ok(sql.includes(`WHERE "$path" IN ('s3://bucket/cdc/orders/20240101-000001.csv'`), 'only the batch files');
  });
});
