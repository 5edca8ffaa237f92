import assert from 'node:assert/strict';
import { parseTableDefinition } from '../../src/config/schema';
import { readBatchCheck } from '../../src/changes/engine-check';
import { renderBatchCheck } from '../../src/sql/check';
import { renderMerge } from '../../src/sql/merge';
import { trinoDialect } from '../../src/sql/dialect';

const at = (name: string) => `s3://bucket/cdc/orders/${name}`;
const def = (overrides: Record<string, unknown> = {}) =>
  parseTableDefinition({
    database: 'shop',
    table: 'orders',
    staging: { location: 's3://bucket/cdc/orders/' },
    columns: [
      { name: 'id', type: 'bigint' },
      { name: 'seq', type: 'bigint' },
      { name: 'score', type: 'double' },
    ],
    primaryKey: ['id'],
    ordering: { sequence: 'seq' },
    ...overrides,
  });
const HORIZON = { latest: '2026-12-01 10:00:00.000000', purgedThrough: '2026-11-01 00:00:00.000000' };

describe('the engine check of a batch', () => {
  it('reads the very changes the MERGE reads, with every conversion under try, and counts per file', () => {
    const files = [at('a.csv'), at('b.csv')];
    const sql = renderBatchCheck(def(), trinoDialect(), { files }, HORIZON);
    // The MERGE's own conversion of each value, under try; and whether the record gave one at all.
    assert.ok(
      sql.includes(`try(CAST(NULLIF("score", '') AS double)) AS "score", (NULLIF("score", '')) IS NOT NULL AS _icetide_given_2`),
      sql,
    );
    assert.ok(renderMerge(def(), trinoDialect(), files).includes(`CAST(NULLIF("score", '') AS double) AS "score"`));
    assert.ok(sql.includes(`count_if(_icetide_given_2 AND "score" IS NULL) AS bad_2`), sql);
    assert.ok(sql.includes(`count_if(NOT (_icetide_given_0)) AS missing_key`), sql);
    assert.ok(sql.includes(`count_if("_icetide_commit_ts" > TIMESTAMP '2026-12-01 10:00:00.000000') AS future`), sql);
    assert.ok(sql.includes(`count_if("_icetide_commit_ts" < TIMESTAMP '2026-11-01 00:00:00.000000') AS too_late`), sql);
    assert.ok(sql.includes(`CAST(min("id") AS varchar) AS key_min`), sql);
    assert.ok(sql.includes(`"$path" IN ('${files[0]}', '${files[1]}')`), sql);
    assert.ok(sql.endsWith('GROUP BY "_icetide_path"'), sql);
    // An append table counts updates and deletes; a string key has no range to prune by.
    const append = renderBatchCheck(
      def({ kind: 'append', columns: [{ name: 'id', type: 'string' }], ordering: {} }),
      trinoDialect(),
      { files },
      HORIZON,
    );
    assert.ok(append.includes(`count_if("_icetide_op" <> 'I') AS not_insert`), append);
    assert.ok(!append.includes('key_min'), append);
  });

  it('JSON formats parse under try, so a line that is not JSON reads as no record (the accounting counts it)', () => {
    const sql = renderBatchCheck(
      def({ staging: { location: 's3://bucket/cdc/orders/', format: 'debezium-json' }, ordering: {} }),
      trinoDialect(),
      { files: [at('a.json')] },
      HORIZON,
    );
    assert.ok(sql.includes('try(json_parse(line)) AS j'), sql);
    assert.ok(sql.includes('AND try(json_parse(line)) IS NOT NULL'), sql);
  });

  it('turns the answer into problems by kind and count, never values, with the newest commit time and key range', () => {
    const rows = [
      {
        path: at('a.csv'),
        changes: 3,
        bad_op: 0,
        not_insert: 0,
        bad_commit: 0,
        missing_key: 0,
        bad_sequence: 0,
        future: 0,
        too_late: 0,
        max_commit_ts: '2026-11-21 10:00:01',
        key_min: '-4',
        key_max: '9',
        bad_0: 0,
        bad_1: 0,
        bad_2: 0,
      },
      {
        path: at('b.csv'),
        changes: 4,
        bad_op: 1,
        not_insert: 0,
        bad_commit: 2,
        missing_key: 1,
        bad_sequence: 1,
        future: 1,
        too_late: 1,
        max_commit_ts: null,
        key_min: null,
        key_max: null,
        bad_0: 0,
        bad_1: 0,
        bad_2: 2,
      },
    ];
    const files = readBatchCheck(
      def(),
      rows,
      new Map([
        [at('c.csv'), 1],
        [at('a.csv'), 0],
      ]),
      '1h',
    );
    assert.deepEqual(files.get(at('a.csv')), {
      changes: 3,
      maxCommitTs: '2026-11-21 10:00:01.000000',
      keyRange: { column: 'id', min: '-4', max: '9' },
      problems: [],
    });
    assert.deepEqual(files.get(at('b.csv'))?.problems, [
      '1 change without an operation of the format',
      '2 changes without a valid commit time',
      '1 change without a value for the primary key (id)',
      '1 change whose sequence column seq is missing or not a non-negative integer',
      'column score: 2 values that do not convert to double',
      '1 commit time more than 1h (limits.maxClockSkew) ahead of the worker clock: a forged or corrupt record would win against every later change of its key',
      '1 change older than the tombstone purge horizon: it could resurrect a deleted row',
    ]);
    assert.deepEqual(files.get(at('c.csv'))?.problems, [
      '1 row(s) with fewer fields than the definition has (op, commit_ts, id, seq, score)',
    ]);
  });
});
