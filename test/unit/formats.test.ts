import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { parseTableDefinition, type TableDefinitionInput } from '../../src/config/schema';
import { renderDmsParquet, type ChangeEvent } from '../../src/changes/producers';
import { checkChangeFile } from '../../src/formats/registry';
import { castJsonText, jsonValueProblem } from '../../src/formats/json-lines';
import { renderMerge } from '../../src/sql/merge';
import { trinoDialect } from '../../src/sql/dialect';
import { renderTableDdl } from '../../src/sql/ddl';
import { athenaDialect } from '../../src/sql/dialect';

const table = (format: 'debezium-json' | 'dynamodb-stream', over: Partial<TableDefinitionInput> = {}) =>
  parseTableDefinition({
    database: 'shop',
    table: 'books',
    location: 's3://lake/books/',
    staging: { location: 's3://bucket/cdc/books/', format },
    columns: [
      { name: 'id', type: 'bigint', field: 'bookId' },
      { name: 'title', type: 'string' },
      { name: 'price', type: 'decimal(10,2)' },
    ],
    primaryKey: ['id'],
    ...over,
  });
const URI = 's3://bucket/cdc/books/f.json';
const lines = (...records: unknown[]) => records.map((r) => (typeof r === 'string' ? r : JSON.stringify(r))).join('\n') + '\n';

const debezium = (op: string, tsMs: number, after: unknown, before: unknown = null, source: object = {}) => ({
  before,
  after,
  op,
  source: { ts_ms: tsMs, lsn: 7, ...source },
});

describe('debezium-json: the worker check', () => {
  const def = table('debezium-json');

  it('counts changes (not the null tombstone after a delete), keeps the newest commit time and the key range', async () => {
    const c = await checkChangeFile(
      def,
      URI,
      lines(
        debezium('c', 1_700_000_000_123, { bookId: 5, title: 'a', price: '1.50' }),
        debezium('d', 1_700_000_001_000, null, { bookId: 9 }),
        'null',
        { schema: { type: 'struct' }, payload: debezium('u', 1_700_000_000_500, { bookId: 2, title: null, price: 3 }) },
        { schema: null, payload: null },
      ),
    );
    assert.deepEqual(c, {
      uri: URI,
      rows: 3,
      maxCommitTs: '2023-11-14 22:13:21.000000',
      keyRange: { column: 'id', min: '2', max: '9' },
      problems: [],
    });
  });

  it('names every problem with its line: not JSON, unknown or truncate op, missing key, base64 decimal, bad ts_ms', async () => {
    const c = await checkChangeFile(
      def,
      URI,
      lines(
        '{not json',
        debezium('t', 1, null),
        debezium('x', 1, { bookId: 1 }),
        debezium('c', 1, { title: 'no key' }),
        debezium('u', 1, { bookId: 1, price: 'AeI=' }),
        debezium('c', -5, { bookId: 1 }),
        debezium('d', 1, null, null),
        debezium('c', 1, { bookId: 1 }, null, { lsn: -1 }),
      ),
    );
    assert.deepEqual(
      c.problems.map((p) => `${p.line}: ${p.problem}`),
      [
        '1: not JSON',
        '2: unknown op (truncate events are not applied: truncate the table by hand)',
        '3: unknown op (expected c, r, u or d)',
        '4: primary key column id is null',
        "5: column price: not a decimal(10,2) (set the connector's decimal.handling.mode to string or double)",
        '6: source.ts_ms is not a commit time in epoch milliseconds',
        '7: before is not an object (a delete needs its key in before: REPLICA IDENTITY on Postgres)',
        '8: source.lsn is not a non-negative integer of at most 20 digits',
      ],
    );
  });

  it('numbers lines as the engine splits them (\\n, \\r\\n, \\r), skipping blank lines, across any chunking', async () => {
    const bad = JSON.stringify(debezium('c', 1, { bookId: 'x' }));
    const good = JSON.stringify(debezium('c', 1, { bookId: 1 }));
    const text = `${good}\r\n\r\n${good}\r${bad}\n`;
    const whole = await checkChangeFile(def, URI, text);
    assert.deepEqual(whole.problems, [{ line: 4, problem: 'column id: not a bigint' }]);
    assert.equal(whole.rows, 3);
    // One byte at a time: a \r\n split across chunks is still one line end.
    const chunked = await checkChangeFile(def, URI, Readable.from([...Buffer.from(text)].map((b) => Buffer.from([b]))));
    assert.deepEqual(chunked, whole);
  });

  it('refuses changes older than the tombstone purge horizon', async () => {
    const c = await checkChangeFile(def, URI, lines(debezium('u', Date.UTC(2026, 10, 20), { bookId: 1 })), {
      purgedThrough: '2026-11-21 00:00:00.000000',
    });
    assert.match(c.problems[0].problem, /older than the tombstone purge horizon 2026-11-21 00:00:00.000000/);
  });

  it('reads values from the field a column names, and keys of a delete from before', () => {
    const sql = renderMerge(def, trinoDialect(), [URI]);
    assert.ok(sql.includes(`coalesce(json_extract(j, '$.payload'), j) AS e`), sql);
    assert.ok(
      sql.includes(`coalesce(json_extract_scalar(e, '$["after"]["bookId"]'), json_extract_scalar(e, '$["before"]["bookId"]'))`),
      sql,
    );
    assert.ok(sql.includes(`WHERE json_extract_scalar(e, '$["op"]') IS NOT NULL`), sql);
    assert.ok(sql.includes(`FROM "hive"."shop"."books__cdc" WHERE "$path" IN ('${URI}') AND trim(line) <> ''`), sql);
  });
});

describe('dynamodb-stream: the worker check', () => {
  const def = table('dynamodb-stream', {
    columns: [
      { name: 'id', type: 'bigint', field: 'bookId' },
      { name: 'title', type: 'string' },
      { name: 'price', type: 'decimal(10,2)' },
      { name: 'tags', type: 'string' },
    ],
  });
  const record = (eventName: string, created: unknown, keys: unknown, newImage?: unknown, sequence: unknown = '000000000000000000101') => ({
    eventName,
    dynamodb: { ApproximateCreationDateTime: created, Keys: keys, ...(newImage ? { NewImage: newImage } : {}), SequenceNumber: sequence },
  });

  it('takes keys from Keys and the rest from NewImage; REMOVE needs only Keys; seconds and milliseconds read alike', async () => {
    const c = await checkChangeFile(
      def,
      URI,
      lines(
        record(
          'INSERT',
          1_700_000_000,
          { bookId: { N: '3' } },
          { bookId: { N: '3' }, title: { S: 'x' }, price: { N: '9.5' }, tags: { SS: ['a', 'b'] } },
        ),
        record(
          'MODIFY',
          1_700_000_001_250,
          { bookId: { N: '4' } },
          { bookId: { N: '4' }, title: { NULL: true }, tags: { M: { a: { S: 'b' } } } },
        ),
        record('REMOVE', 1_700_000_000.5, { bookId: { N: '1' } }),
      ),
    );
    assert.deepEqual(c, {
      uri: URI,
      rows: 3,
      maxCommitTs: '2023-11-14 22:13:21.250000',
      keyRange: { column: 'id', min: '1', max: '4' },
      problems: [],
    });
  });

  it('names every problem with its line', async () => {
    const c = await checkChangeFile(
      def,
      URI,
      lines(
        { not: 'a stream record' },
        record('UPSERT', 1, { bookId: { N: '1' } }, {}),
        record('MODIFY', 1, { bookId: { N: '1' } }),
        record('INSERT', 'yesterday', { bookId: { N: '1' } }, { price: { M: {} } }, 'x'),
        record('INSERT', 1, { bookId: { S: 'one' } }, { title: { Q: 'x' } }),
        record('INSERT', 1, {}, {}),
      ),
    );
    assert.deepEqual(
      c.problems.map((p) => `${p.line}: ${p.problem}`),
      [
        '1: not a DynamoDB Streams record (expected eventName and dynamodb)',
        '2: unknown eventName (expected INSERT, MODIFY or REMOVE)',
        "3: dynamodb.NewImage is missing (the stream's view type must include new images)",
        '4: dynamodb.ApproximateCreationDateTime is not an epoch time',
        '4: dynamodb.SequenceNumber is not a string of at most 40 digits',
        '4: column price: a DynamoDB M value is not a decimal(10,2)',
        '5: column id: not a bigint',
        '5: column title: unknown DynamoDB attribute type',
        '6: primary key column id (attribute bookId) is missing from Keys',
      ],
    );
  });

  it('reads key columns from Keys and other columns from NewImage; structures only into strings', () => {
    const sql = renderMerge(def, trinoDialect(), [URI]);
    assert.ok(sql.includes(`json_extract_scalar(j, '$["dynamodb"]["Keys"]["bookId"]["N"]')`), sql);
    assert.ok(sql.includes(`json_extract_scalar(j, '$["dynamodb"]["NewImage"]["price"]["N"]')`), sql);
    assert.ok(sql.includes(`nullif(json_format(json_extract(j, '$["dynamodb"]["NewImage"]["tags"]["SS"]')), 'null')`), sql);
    assert.ok(!sql.includes(`["price"]["M"]`), 'a decimal column never reads a map');
  });
});

describe('JSON values: what the check accepts is what the SQL converts', () => {
  it('accepts each encoding castJsonText converts and refuses the rest', () => {
    const ok: [string, unknown][] = [
      ['bigint', 42],
      ['bigint', '-42'],
      ['bigint', 1e2],
      ['int', 2 ** 31 - 1],
      ['double', 1.5e300],
      ['double', '2.5'],
      ['decimal(10,2)', 12345678.99],
      ['decimal(10,2)', '-1.25'],
      ['boolean', true],
      ['boolean', 'FALSE'],
      ['date', 19000],
      ['date', '2024-02-29'],
      ['timestamp', 1_700_000_000_123_456],
      ['timestamp', '2024-01-01T10:00:00.123456Z'],
      ['timestamp', '2024-01-01T10:00:00+02:00'],
      ['timestamp', '2024-01-01T10:00'],
      ['string', { any: ['structure'] }],
      ['bigint', null],
    ];
    for (const [type, value] of ok) assert.equal(jsonValueProblem(type, value, 'micros'), undefined, `${type} ${JSON.stringify(value)}`);
    const refused: [string, unknown][] = [
      ['bigint', 1.5],
      ['bigint', 2 ** 64],
      ['int', 2 ** 31],
      ['decimal(10,2)', 123456789],
      ['decimal(10,2)', 'AeI='],
      ['boolean', 1],
      ['date', '2024-02-30'],
      ['timestamp', '2024-01-01 10:00:00'],
      ['timestamp', 2 ** 62],
      ['double', { a: 1 }],
      ['bigint', [1]],
    ];
    for (const [type, value] of refused)
      assert.notEqual(jsonValueProblem(type, value, 'micros'), undefined, `${type} ${JSON.stringify(value)}`);
  });

  it('integers in timestamp columns are the format epoch unit', () => {
    assert.match(castJsonText('v', 'timestamp', 'micros'), /from_unixtime_nanos\(CAST\(v AS bigint\) \* 1000\)/);
    assert.match(castJsonText('v', 'timestamp', 'seconds'), /from_unixtime_nanos\(CAST\(v AS bigint\) \* 1000000000\)/);
    assert.equal(jsonValueProblem('timestamp', 1_700_000_000_123_456, 'seconds'), 'not a timestamp (epoch seconds)');
  });
});

describe('JSON formats: staging tables and definitions', () => {
  it('stage JSON lines as a one-column text table on both engines', () => {
    const def = table('debezium-json');
    assert.equal(
      renderTableDdl(def, trinoDialect())[2],
      `CREATE TABLE IF NOT EXISTS "hive"."shop"."books__cdc" (line varchar) WITH (external_location = 's3://bucket/cdc/books/', format = 'TEXTFILE')`,
    );
    assert.equal(
      renderTableDdl(def, athenaDialect())[1],
      "CREATE EXTERNAL TABLE IF NOT EXISTS `shop`.`books__cdc` (line string) STORED AS TEXTFILE LOCATION 's3://bucket/cdc/books/'",
    );
  });

  it('refuses a sequence column (the format orders by its own position) and a field on DMS CSV', () => {
    assert.throws(() => table('debezium-json', { ordering: { sequence: 'title' } }), /debezium-json orders changes by its own position/);
    assert.throws(
      () => parseTableDefinition({ ...table('debezium-json'), staging: { location: 's3://bucket/cdc/books/' } }),
      /field applies to JSON formats/,
    );
    assert.throws(() => table('dynamodb-stream', { columns: [{ name: 'id', type: 'bigint', field: 'a"b' }] }), /without double quotes/);
  });
});

describe('dynamodb-export and table kinds', () => {
  const exportDef = (kind: 'snapshot' | 'append') =>
    parseTableDefinition({
      database: 'shop',
      table: 'orders',
      kind,
      staging: { location: 's3://bucket/exports/orders/', format: 'dynamodb-export' },
      columns: [
        { name: 'id', type: 'bigint', field: 'orderId' },
        { name: 'total', type: 'decimal(10,2)' },
      ],
      primaryKey: ['id'],
    });
  const SUMMARY = 's3://bucket/exports/orders/AWSDynamoDB/0170-ab/manifest-summary.json';
  const folder = 's3://bucket/exports/orders/AWSDynamoDB/0170-ab/';
  const summary = (over: object = {}) =>
    JSON.stringify({
      exportTime: '2026-11-21T03:00:00.5Z',
      exportType: 'FULL_EXPORT',
      outputFormat: 'DYNAMODB_JSON',
      itemCount: 2,
      ...over,
    });
  const objects = (files: Record<string, string>) => ({
    open: (uri: string) => {
      if (!(uri in files)) return Promise.reject(Object.assign(new Error('The specified key does not exist.'), { name: 'NoSuchKey' }));
      return Promise.resolve(Readable.from([files[uri]]));
    },
  });
  const item = (id: number, total: string) => JSON.stringify({ Item: { orderId: { N: String(id) }, total: { N: total } } });
  const complete = {
    [`${folder}manifest-files.json`]: `${JSON.stringify({ itemCount: 2, dataFileS3Key: 'prefix/AWSDynamoDB/0170-ab/data/a.json.gz' })}\n`,
    [`${folder}data/a.json.gz`]: `${item(1, '1.5')}\n${item(2, '2')}\n`,
  };

  it('checks a complete export: every item, the commit time is the export time', async () => {
    const c = await checkChangeFile(exportDef('snapshot'), SUMMARY, summary(), objects(complete));
    assert.deepEqual(c, {
      uri: SUMMARY,
      rows: 2,
      maxCommitTs: '2026-11-21 03:00:00.500000',
      exportTime: '2026-11-21 03:00:00.500000',
      partRecords: { [`${folder}data/a.json.gz`]: 2 },
      keyRange: { column: 'id', min: '1', max: '2' },
      problems: [],
    });
  });

  it('refuses what it cannot read whole: ION, incremental, a missing manifest, counts that disagree, bad items', async () => {
    const problems = async (text: string, files: Record<string, string>) =>
      (await checkChangeFile(exportDef('snapshot'), SUMMARY, text, objects(files))).problems.map((p) => p.problem);
    assert.match((await problems(summary({ outputFormat: 'ION' }), complete))[0], /export format "ION" is not read/);
    assert.match((await problems(summary({ exportType: 'INCREMENTAL_EXPORT' }), complete))[0], /a snapshot table takes full exports/);
    assert.match((await problems(summary(), {}))[0], /manifest-files.json is missing: the export is incomplete/);
    assert.deepEqual(await problems(summary({ itemCount: 3 }), complete), [
      'the data files hold 2 items, the summary says 3: the export is incomplete',
    ]);
    const shared = {
      [`${folder}manifest-files.json`]: `${JSON.stringify({ itemCount: 2, dataFileS3Key: 'prefix/AWSDynamoDB/data/a.json.gz' })}\n`,
    };
    assert.deepEqual(await problems(summary(), shared), [
      "data file s3://bucket/exports/orders/AWSDynamoDB/data/a.json.gz lies outside the export's folder: exports sharing a data folder are not read yet",
    ]);
    const bad = { ...complete, [`${folder}data/a.json.gz`]: `${item(1, 'x')}\n{"Item": {"total": {"N": "1"}}}\n` };
    assert.deepEqual(await problems(summary(), bad), [
      `data file ${folder}data/a.json.gz: column total: not a decimal(10,2)`,
      `data file ${folder}data/a.json.gz: primary key column id (attribute orderId) is missing`,
    ]);
  });

  it('an incremental export is read as changes at their write times (kind cdc)', async () => {
    const cdc = parseTableDefinition({ ...exportDef('snapshot'), kind: 'cdc' });
    const record = (keys: object, images: { NewImage?: object; OldImage?: object }, micros = '1764000000000001') =>
      JSON.stringify({ Metadata: { WriteTimestampMicros: { N: micros } }, Keys: keys, ...images });
    const files = {
      [`${folder}manifest-files.json`]: `${JSON.stringify({ itemCount: 3, dataFileS3Key: 'AWSDynamoDB/0170-ab/data/a.json.gz' })}\n`,
      [`${folder}data/a.json.gz`]: [
        record({ orderId: { N: '1' } }, { NewImage: { orderId: { N: '1' }, total: { N: '2' } } }),
        record({ orderId: { N: '2' } }, { OldImage: { orderId: { N: '2' } } }, '1764000000500000'),
        record({ orderId: { N: '3' } }, { NewImage: { orderId: { N: '3' }, total: { S: 'x' } }, OldImage: {} }, 'soon'),
      ].join('\n'),
    };
    const c = await checkChangeFile(cdc, SUMMARY, summary({ exportType: 'INCREMENTAL_EXPORT', itemCount: 3 }), objects(files));
    assert.equal(c.rows, 3);
    assert.equal(c.maxCommitTs, '2025-11-24 16:00:00.500000');
    assert.deepEqual(
      c.problems.map((p) => `${p.line}: ${p.problem}`),
      [
        `3: data file ${folder}data/a.json.gz: Metadata.WriteTimestampMicros is not an epoch time in microseconds`,
        `3: data file ${folder}data/a.json.gz: column total: not a decimal(10,2)`,
      ],
    );
    const sql = renderMerge(cdc, trinoDialect(), [SUMMARY], { exportTime: '2025-11-24 16:00:00.500000' });
    assert.ok(
      sql.includes(
        `CASE WHEN json_extract(j, '$["Item"]') IS NOT NULL THEN 'I' WHEN NOT json_extract(j, '$["NewImage"]') IS NOT NULL THEN 'D'`,
      ),
      sql,
    );
  });

  it('an incremental export without items has its time from the summary: its MERGE renders, nothing is applied', async () => {
    const cdc = parseTableDefinition({ ...exportDef('snapshot'), kind: 'cdc' });
    const empty = {
      [`${folder}manifest-files.json`]: `${JSON.stringify({ itemCount: 0, dataFileS3Key: 'AWSDynamoDB/0170-ab/data/a.json.gz' })}\n`,
      [`${folder}data/a.json.gz`]: '',
    };
    // DynamoDB names an incremental export's window by exportFromTime and exportToTime.
    const text = summary({ exportType: 'INCREMENTAL_EXPORT', itemCount: 0, exportTime: undefined, exportToTime: '2026-11-22T03:00:00Z' });
    const c = await checkChangeFile(cdc, SUMMARY, text, objects(empty));
    assert.deepEqual(c.problems, []);
    assert.equal(c.rows, 0);
    assert.equal(c.maxCommitTs, undefined, 'no change, so no commit time: the watermark stays');
    assert.equal(c.exportTime, '2026-11-22 03:00:00.000000');
    assert.deepEqual(c.partRecords, { [`${folder}data/a.json.gz`]: 0 }, 'an empty data file is known to hold nothing');
    assert.doesNotThrow(() => renderMerge(cdc, trinoDialect(), [SUMMARY], { exportTime: c.exportTime }));
  });

  it('snapshot MERGE: one statement that deletes live rows absent from the export and rewrites only changed rows', () => {
    const sql = renderMerge(exportDef('snapshot'), trinoDialect(), [SUMMARY], {
      exportTime: '2026-11-21 03:00:00.500000',
      keyRange: { column: 'id', min: '1', max: '2' },
    });
    assert.match(
      sql,
      /FULL OUTER JOIN \(SELECT "id" FROM "iceberg"\."shop"\."orders" WHERE NOT "_icetide_deleted"\) AS o ON n\."id" = o\."id"/,
    );
    assert.ok(sql.includes(`substr("$path", 1, ${`${folder}data/`.length}) = '${folder}data/'`), sql);
    assert.ok(
      sql.includes(
        `WHEN MATCHED AND s."_icetide_version" > t."_icetide_version" AND (t."_icetide_deleted" OR t."total" IS DISTINCT FROM s."total") THEN UPDATE`,
      ),
      sql,
    );
    assert.ok(!sql.includes('BETWEEN'), 'a snapshot reads the whole table: no key range');
    assert.ok(
      sql.includes(
        `WHERE NOT EXISTS (SELECT 1 FROM "iceberg"."shop"."orders" WHERE "_icetide_commit_ts" >= TIMESTAMP '2026-11-21 03:00:00.500000')`,
      ),
      'a table holding a change at or after the export (a newer export) takes nothing from it',
    );
    assert.throws(() => renderMerge(exportDef('snapshot'), trinoDialect(), [SUMMARY]), /needs its export time/);
  });

  it('append MERGE inserts keys not there yet and touches nothing else; the check refuses updates and deletes', async () => {
    const sql = renderMerge(exportDef('append'), trinoDialect(), [SUMMARY], { exportTime: '2026-11-21 03:00:00.500000' });
    assert.deepEqual(
      sql.split('\n').filter((l) => l.startsWith('WHEN')),
      [
        'WHEN NOT MATCHED THEN INSERT ("id", "total", "_icetide_version", "_icetide_commit_ts", "_icetide_deleted") VALUES (s."id", s."total", s."_icetide_version", s."_icetide_commit_ts", false)',
      ],
    );
    const csvAppend = parseTableDefinition({
      ...exportDef('append'),
      kind: 'append',
      staging: { location: 's3://bucket/cdc/' },
      columns: [{ name: 'id', type: 'bigint' }],
    });
    const c = await checkChangeFile(
      csvAppend,
      's3://bucket/cdc/a.csv',
      'I,2024-01-01 00:00:00,1\nU,2024-01-01 00:00:01,1\nD,2024-01-01 00:00:02,1\n',
    );
    assert.deepEqual(
      c.problems.map((p) => `${p.line}: ${p.problem}`),
      [
        '2: an append table takes inserts only, this change is an update (use kind cdc)',
        '3: an append table takes inserts only, this change is a delete (use kind cdc)',
      ],
    );
  });

  it('a snapshot table needs an export format and tombstones', () => {
    assert.throws(
      () =>
        parseTableDefinition({
          ...exportDef('snapshot'),
          staging: { location: 's3://bucket/cdc/', format: 'dms-csv' },
          columns: [{ name: 'id', type: 'bigint' }],
        }),
      /needs a format of complete exports/,
    );
    assert.throws(() => parseTableDefinition({ ...exportDef('snapshot'), deletes: 'hard' }), /keeps tombstones/);
  });
});

describe('dms-parquet: the worker check reads the footer, then the columns it needs', () => {
  const def = (over: Partial<TableDefinitionInput> = {}) =>
    parseTableDefinition({
      database: 'shop',
      table: 'orders',
      staging: { location: 's3://bucket/cdc/orders/', format: 'dms-parquet' },
      columns: [
        { name: 'id', type: 'bigint' },
        { name: 'price', type: 'decimal(10,2)' },
        { name: 'at', type: 'timestamp' },
      ],
      primaryKey: ['id'],
      ...over,
    });
  const event = (op: 'I' | 'U' | 'D', id: number | null, ts = '2026-11-24 10:00:00.000001'): ChangeEvent => ({
    op,
    ts,
    values: { id, price: '1.50', at: '2026-11-24 09:00:00.123456' },
  });
  const source = (bytes: Buffer) => ({
    byteLength: bytes.length,
    slice: async (s: number, e?: number) => bytes.buffer.slice(bytes.byteOffset + s, bytes.byteOffset + (e ?? bytes.length)) as ArrayBuffer,
  });
  const URI_P = 's3://bucket/cdc/orders/a.parquet';

  it('counts rows, keeps the newest commit time and key range; names rows by number', async () => {
    const file = renderDmsParquet(def(), [event('I', 5), event('U', 9, '2026-11-24 10:00:01.5'), { ...event('D', null), op: 'X' as 'D' }]);
    const c = await checkChangeFile(def(), URI_P, source(file));
    assert.deepEqual(c.rows, 3);
    assert.equal(c.maxCommitTs, '2026-11-24 10:00:01.500000');
    assert.deepEqual(c.keyRange, { column: 'id', min: '5', max: '9' });
    assert.deepEqual(c.problems, [
      { line: 3, problem: 'Op is not I, U or D' },
      { line: 3, problem: 'primary key column id is null' },
    ]);
  });

  it('compares the file schema with the definition: types, missing and extra columns, added columns', async () => {
    const file = renderDmsParquet(def(), [event('I', 1)]);
    const problems = async (d: ReturnType<typeof def>) => (await checkChangeFile(d, URI_P, source(file))).problems.map((p) => p.problem);
    assert.deepEqual(
      await problems(
        def({
          columns: [
            { name: 'id', type: 'bigint' },
            { name: 'price', type: 'string' },
            { name: 'at', type: 'timestamp' },
          ],
        }),
      ),
      ['column price is FIXED_LEN_BYTE_ARRAY DECIMAL (10,2) in the file, the definition says string'],
    );
    assert.deepEqual(
      await problems(
        def({
          columns: [
            { name: 'id', type: 'bigint' },
            { name: 'at', type: 'timestamp' },
          ],
        }),
      ),
      [
        'the file has columns the definition lacks (price): the source has gained a column; add it last with added: true, run apply, then merge again',
      ],
    );
    const more = [...def().columns, { name: 'email', type: 'string' }];
    assert.deepEqual(await problems(def({ columns: more })), ['column email is missing from the file']);
    assert.deepEqual(
      await problems(def({ columns: [...def().columns, { name: 'email', type: 'string', added: true }] })),
      [],
      'an added column a file predates reads NULL',
    );
  });

  it('a file that is not Parquet is bad content; a failed range read is the transport', async () => {
    const c = await checkChangeFile(def(), URI_P, source(Buffer.from('not parquet at all, just text')));
    assert.match(c.problems[0].problem, /^not a readable Parquet file: /);
    const broken = { byteLength: 1000, slice: () => Promise.reject(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })) };
    await assert.rejects(checkChangeFile(def(), URI_P, broken), /socket hang up/);
  });
});
