import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { WorkflowFailedError } from '@temporalio/client';
import { renderChangeFile, type ChangeEvent } from '../../src/changes/producers';
import type { TableDefinition } from '../../src/config/schema';
import type { IngestResult, Watermark } from '../../src/shared';
import { createTable, listUris, putChangeFile, tableFor, uniqueName } from '../../local/harness/harness';
import { seededRandom } from '../../local/harness/random';
import { useStackWithWorker } from '../support/suite';
import { asStrings, ReferenceTable } from '../support/reference';

const COLUMNS = ['tenant', 'id', 'seq', 'name', 'amount', 'updated_at'];
const ts = (second: number) =>
  `2026-11-21 10:${String(Math.floor(second / 60) % 60).padStart(2, '0')}:${String(second % 60).padStart(2, '0')}.000000`;
/** A change at `second`; position breaks ties of equal commit times (the seq column mirrors it for the reference). */
const ev = (
  op: ChangeEvent['op'],
  second: number,
  tenant: string,
  id: number,
  seq: number,
  name: string | null,
  amount: string | null,
): ChangeEvent => ({
  op,
  ts: ts(second),
  position: seq,
  values: { tenant, id, seq, name, amount, updated_at: name === null ? null : ts(second) },
});

interface FormatCase {
  format: TableDefinition['staging']['format'];
  extension: string;
  encode(content: string | Buffer): string | Buffer;
  /** The second record of a file made bad, and how the check names its problem. */
  corrupt(def: TableDefinition, good: ChangeEvent, bad: ChangeEvent): { content: string | Buffer; problem: string };
}
/** Text formats: a decimal written as words. */
const wordsForAmount = (def: TableDefinition, good: ChangeEvent, bad: ChangeEvent) => ({
  content: `${String(renderChangeFile(def, [good]))}${String(renderChangeFile(def, [bad]))
    .replace('"2.00"', '"two dollars"')
    .replace(',2.00,', ',two dollars,')}`,
  problem: 'column amount: not a decimal\\(10,2\\)',
});
const CASES: FormatCase[] = [
  { format: 'dms-csv', extension: '.csv.gz', encode: (content) => gzipSync(content), corrupt: wordsForAmount },
  {
    format: 'dms-parquet',
    extension: '.parquet',
    encode: (content) => content,
    // Parquet is typed: what can go wrong in a row is a missing key or an unknown operation.
    corrupt: (def, good, bad) => ({
      content: renderChangeFile(def, [good, { ...bad, values: { ...bad.values, id: null } }]),
      problem: 'primary key column id is null',
    }),
  },
  { format: 'debezium-json', extension: '.json', encode: (content) => content, corrupt: wordsForAmount },
  { format: 'dynamodb-stream', extension: '.json.gz', encode: (content) => gzipSync(content), corrupt: wordsForAmount },
];

const definition = (c: FormatCase, database: string): TableDefinition =>
  tableFor(database, {
    staging: { location: `s3://icetide-staging/${database}/orders/`, format: c.format },
    columns: [
      // JSON formats read tenant from a camelCase field, as DynamoDB attributes usually are.
      { name: 'tenant', type: 'string', ...(c.format.startsWith('dms-') ? {} : { field: 'tenantId' }) },
      { name: 'id', type: 'bigint' },
      { name: 'seq', type: 'bigint' },
      { name: 'name', type: 'string' },
      { name: 'amount', type: 'decimal(10,2)' },
      { name: 'updated_at', type: 'timestamp' },
    ],
    ordering: c.format.startsWith('dms-') ? { commitTimestamp: 'commit_ts', sequence: 'seq' } : {},
    batch: { maxFiles: 2 },
  });

describe('change formats on the local stack: every format merges to the same reference', function () {
  this.timeout(300_000);
  const stack = useStackWithWorker('formats_tq');

  const runBatch = (def: TableDefinition, watermark?: Watermark): Promise<IngestResult> =>
    stack.h.client.workflow.execute('ingestBatch', {
      taskQueue: stack.taskQueue,
      workflowId: uniqueName(`formats-${def.database}`),
      args: [{ version: 1, table: def, watermark }],
    });

  const tableRows = async (def: TableDefinition) =>
    asStrings(
      await stack.h.trino.query(
        `SELECT tenant, id, seq, name, amount, CAST(updated_at AS varchar) AS updated_at FROM iceberg."${def.database}".orders_current ORDER BY tenant, id`,
      ),
      COLUMNS,
    );

  for (const c of CASES) {
    it(`${c.format}: inserts, updates, deletes, duplicates, out-of-order and stale changes over several batches equal the reference`, async () => {
      const def = definition(c, uniqueName(c.format.replace(/-/g, '_')));
      await createTable(stack.h, def);
      const reference = new ReferenceTable(def.primaryKey);
      const random = seededRandom(20261125);
      let clock = 0;
      let seq = 100;
      const randomEvents = (n: number): ChangeEvent[] =>
        Array.from({ length: n }, () => {
          const op = (['I', 'U', 'U', 'D'] as const)[Math.floor(random() * 4)];
          const id = 1 + Math.floor(random() * 10);
          const tenant = random() < 0.5 ? 'acme' : 'globex';
          seq += 1;
          return op === 'D'
            ? ev('D', (clock += 1), tenant, id, seq, null, null)
            : ev(op, (clock += 1), tenant, id, seq, `n${seq}`, (random() * 1000).toFixed(2));
        });
      const files: ChangeEvent[][] = [
        // a duplicate and an out-of-order pair in one file
        [
          ev('U', 300, 'edge', 1, 2, 'one-v2', '2.00'),
          ev('I', 299, 'edge', 1, 1, 'one-v1', '1.00'),
          ev('U', 300, 'edge', 1, 2, 'one-v2', '2.00'),
        ],
        randomEvents(20),
        // equal commit times broken by the position; a delete and a re-insert
        [
          ev('U', 301, 'edge', 3, 10, 'three-10', '10.00'),
          ev('U', 301, 'edge', 3, 9, 'three-9', '9.00'),
          ev('I', 290, 'edge', 2, 1, 'two', '2.00'),
          ev('D', 302, 'edge', 2, 2, null, null),
          ev('I', 303, 'edge', 2, 3, 'two-again', '2.50'),
        ],
        randomEvents(20),
        // a delete of a key never seen, before its insert arrives; key 5 inserted, then deleted
        [ev('D', 305, 'edge', 4, 2, null, null), ev('I', 310, 'edge', 5, 1, 'five', '5.00'), ev('D', 312, 'edge', 5, 3, null, null)],
        // stale changes arriving late: none may bring a row back or win
        [
          ev('I', 304, 'edge', 4, 1, 'four-stale', '4.00'),
          ev('U', 298, 'edge', 1, 0, 'one-stale', '0.50'),
          ev('U', 311, 'edge', 5, 2, 'five-stale', '5.50'),
        ],
        randomEvents(20),
      ];

      let watermark: Watermark | undefined;
      const pending: string[] = [];
      for (const [i, events] of files.entries()) {
        const name = `20261121-10${String(i).padStart(4, '0')}${c.extension}`;
        pending.push(await putChangeFile(stack.h, def, name, c.encode(renderChangeFile(def, events))));
        reference.deliver(name, events);
        if (pending.length < 2 && i < files.length - 1) continue;
        const result = await runBatch(def, watermark);
        assert.equal(result.outcome, 'merged');
        assert.equal(result.files, pending.length);
        pending.length = 0;
        assert.deepEqual(await listUris(stack.h, def.staging.location), [], 'staging holds nothing once merged');
        watermark = result.watermark;
        assert.deepEqual(await tableRows(def), reference.rows(COLUMNS), `table differs from the reference after file ${i + 1}`);
      }
      assert.equal(watermark?.appliedThrough, reference.maxCommitTs());
      const edge = (await tableRows(def)).filter((r) => r.tenant === 'edge').map((r) => `${r.id}:${r.name}`);
      assert.deepEqual(edge, ['1:one-v2', '2:two-again', '3:three-10']);
    });

    it(`${c.format}: a corrupt record fails the batch naming the table, the file and the line; nothing is merged`, async () => {
      const def = definition(c, uniqueName(`bad_${c.format.replace(/-/g, '_')}`));
      await createTable(stack.h, def);
      const good = ev('I', 1, 'a', 1, 1, 'one', '1.00');
      const { content, problem } = c.corrupt(def, good, ev('I', 2, 'a', 2, 2, 'two', '2.00'));
      await putChangeFile(stack.h, def, `a${c.extension}`, c.encode(renderChangeFile(def, [good])));
      const badUri = await putChangeFile(stack.h, def, `b${c.extension}`, c.encode(content));
      const err = await runBatch(def).catch((e: unknown) => e);
      assert.ok(err instanceof WorkflowFailedError, String(err));
      const message = String((err.cause?.cause as Error | undefined)?.message ?? err.cause?.message);
      assert.match(
        message,
        new RegExp(`table ${def.database}\\.orders: change file ${badUri} has bad rows, nothing was merged: line 2: ${problem}`),
      );
      assert.deepEqual(await tableRows(def), [], 'nothing merged');
      assert.equal((await listUris(stack.h, def.staging.location)).length, 2, 'both files stay in staging');
    });
  }

  it('JSON values: every encoding the check accepts converts in the engine to the value it stands for', async () => {
    const typed = (format: 'debezium-json' | 'dynamodb-stream', database: string) =>
      tableFor(database, {
        staging: { location: `s3://icetide-staging/${database}/books/`, format },
        columns: [
          { name: 'id', type: 'bigint', field: 'bookId' },
          { name: 'n', type: 'int' },
          { name: 'x', type: 'double' },
          { name: 'price', type: 'decimal(10,2)' },
          { name: 'ok', type: 'boolean' },
          { name: 'day', type: 'date' },
          { name: 'at', type: 'timestamp' },
          { name: 'note', type: 'string' },
        ],
        primaryKey: ['id'],
        ordering: {},
        partitioning: [],
      });
    const read = async (def: TableDefinition) =>
      asStrings(
        await stack.h.trino.query(
          `SELECT id, n, x, CAST(price AS varchar) AS price, ok, CAST(day AS varchar) AS day, CAST("at" AS varchar) AS "at", note FROM iceberg."${def.database}".orders_current ORDER BY id`,
        ),
        ['id', 'n', 'x', 'price', 'ok', 'day', 'at', 'note'],
      );
    const expected = [
      { id: '1', n: '7', x: '1.5', price: '12.50', ok: 'true', day: '2022-01-08', at: '2023-11-14 22:13:20.123456', note: 'plain' },
      {
        id: '2',
        n: '100',
        x: '0.25',
        price: '0.10',
        ok: 'false',
        day: '2024-02-29',
        at: '2024-01-01 08:00:00.000000',
        note: '{"a":[1,"b"]}',
      },
      { id: '3', n: null, x: null, price: null, ok: null, day: null, at: '2024-01-01 10:30:00.000000', note: null },
    ];

    const debeziumDef = typed('debezium-json', uniqueName('json_types'));
    await createTable(stack.h, debeziumDef);
    const change = (tsMs: number, after: object) => JSON.stringify({ op: 'c', before: null, after, source: { ts_ms: tsMs, lsn: 1 } });
    await putChangeFile(
      stack.h,
      debeziumDef,
      'a.json',
      [
        change(1, { bookId: 1, n: 7, x: 1.5, price: '12.5', ok: true, day: 19000, at: 1_700_000_000_123_456, note: 'plain' }),
        // an integer written with an exponent, a decimal as a JSON number, an ISO timestamp with an offset, a structure into a string
        change(2, {
          bookId: 2,
          n: 1.0e2,
          x: '0.25',
          price: 0.1,
          ok: 'false',
          day: '2024-02-29',
          at: '2024-01-01T10:00:00+02:00',
          note: { a: [1, 'b'] },
        }),
        change(3, { bookId: 3, n: null, at: '2024-01-01T10:30' }),
      ].join('\n'),
    );
    assert.equal((await runBatch(debeziumDef)).outcome, 'merged');
    assert.deepEqual(await read(debeziumDef), expected);

    const dynamoDef = typed('dynamodb-stream', uniqueName('ddb_types'));
    await createTable(stack.h, dynamoDef);
    const insert = (created: number, id: string, image: object) =>
      JSON.stringify({
        eventName: 'INSERT',
        dynamodb: {
          ApproximateCreationDateTime: created,
          Keys: { bookId: { N: id } },
          NewImage: { bookId: { N: id }, ...image },
          SequenceNumber: '1',
        },
      });
    await putChangeFile(
      stack.h,
      dynamoDef,
      'a.json',
      [
        insert(1_700_000_000, '1', {
          n: { N: '7' },
          x: { N: '1.5' },
          price: { N: '12.5' },
          ok: { BOOL: true },
          day: { S: '2022-01-08' },
          at: { S: '2023-11-14T22:13:20.123456Z' },
          note: { S: 'plain' },
        }),
        insert(1_700_000_000_500, '2', {
          n: { N: '100' },
          x: { N: '0.25' },
          price: { N: '0.1' },
          ok: { BOOL: false },
          day: { N: '19782' },
          at: { N: '1704096000' },
          note: { M: { a: { L: [{ N: '1' }, { S: 'b' }] } } },
        }),
        insert(1_700_000_001, '3', { n: { NULL: true }, at: { S: '2024-01-01T10:30:00' } }),
      ].join('\n'),
    );
    assert.equal((await runBatch(dynamoDef)).outcome, 'merged');
    const dynamoExpected = expected.map((r) => (r.id === '2' ? { ...r, note: '{"a":{"L":[{"N":"1"},{"S":"b"}]}}' } : r));
    assert.deepEqual(await read(dynamoDef), dynamoExpected);
  });
});
