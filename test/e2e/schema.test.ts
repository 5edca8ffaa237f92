import assert from 'node:assert/strict';
import { WorkflowFailedError } from '@temporalio/client';
import type { ChangeEvent } from '../../src/changes/producers';
import { parseTableDefinition, type TableDefinition } from '../../src/config/schema';
import type { IngestResult } from '../../src/shared';
import { createTable, listUris, putChangeFile, STAGING_BUCKET, tableFor, uniqueName } from '../../local/harness/harness';
import { useStackWithWorker } from '../support/suite';
import { asStrings, ReferenceTable } from '../support/reference';

const COLUMNS = ['tenant', 'id', 'seq', 'name', 'amount', 'email'];
const ev = (op: ChangeEvent['op'], second: number, id: number, name: string | null, email?: string | null): ChangeEvent => ({
  op,
  ts: `2026-11-24 10:00:${String(second).padStart(2, '0')}.000000`,
  values: { tenant: 'acme', id, seq: second, name, amount: name === null ? null : `${id}.25`, ...(email === undefined ? {} : { email }) },
});

describe('schema changes on the local stack: a column added mid-stream', function () {
  this.timeout(300_000);
  const stack = useStackWithWorker('schema_tq');
  const runBatch = (def: TableDefinition): Promise<IngestResult> =>
    stack.h.client.workflow.execute('ingestBatch', {
      taskQueue: stack.taskQueue,
      workflowId: uniqueName('schema'),
      args: [{ version: 1, table: def }],
    });

  it('a wider file is refused until apply adds the column; then old and new widths merge together, old rows read NULL', async () => {
    const before = tableFor(uniqueName('schema'));
    await createTable(stack.h, before);
    const after = parseTableDefinition({
      ...before,
      columns: [
        ...before.columns.map((c) => (c.name === 'amount' ? { ...c, type: 'decimal(12,2)' } : c)),
        { name: 'email', type: 'string', added: true },
      ],
    });
    const reference = new ReferenceTable(before.primaryKey);
    const land = async (def: TableDefinition, name: string, events: ChangeEvent[]) => {
      await putChangeFile(stack.h, def, name, events);
      reference.deliver(
        name,
        events.map((e) => ({ ...e, values: { email: null, ...e.values } })),
      );
    };

    await land(before, 'f1.csv', [ev('I', 1, 1, 'one'), ev('I', 2, 2, 'two')]);
    assert.equal((await runBatch(before)).outcome, 'merged');

    // The source gained a column: DMS writes rows one field wider. Before apply they are refused, naming the width.
    const wide = await putChangeFile(stack.h, after, 'f2.csv', [
      ev('U', 3, 1, 'one-v2', 'one@example.com'),
      ev('I', 4, 3, 'three', 'three@example.com'),
    ]);
    const err = await runBatch(before).catch((e: unknown) => e);
    assert.ok(err instanceof WorkflowFailedError);
    assert.match(
      String((err.cause?.cause as Error | undefined)?.message ?? err.cause?.message),
      new RegExp(`change file ${wide} has bad rows, nothing was merged: line 1: found 8 fields, the definition has 7`),
    );

    const { schemaChanges } = await createTable(stack.h, after);
    assert.equal(schemaChanges.length, 3, schemaChanges.join('\n')); // widen amount, add email to the target and to staging
    assert.deepEqual((await createTable(stack.h, after)).schemaChanges, [], 'apply twice changes nothing the second time');
    reference.deliver('f2.csv', [ev('U', 3, 1, 'one-v2', 'one@example.com'), ev('I', 4, 3, 'three', 'three@example.com')]);
    // A file of the old width that DMS wrote before the change, landing late.
    await land(before, 'f3.csv', [ev('U', 5, 2, 'two-v2'), ev('D', 6, 3, null)]);
    const result = await runBatch(after);
    assert.equal(result.files, 2);
    const rows = asStrings(
      await stack.h.trino.query(`SELECT tenant, id, seq, name, amount, email FROM iceberg."${after.database}".orders_current ORDER BY id`),
      COLUMNS,
    );
    assert.deepEqual(rows, reference.rows(COLUMNS));
    assert.deepEqual(await listUris(stack.h, after.staging.location), []);
    const [amount] = await stack.h.trino.query(
      `SELECT data_type FROM iceberg.information_schema.columns WHERE table_schema = '${after.database}' AND table_name = 'orders' AND column_name = 'amount'`,
    );
    assert.equal(amount.data_type, 'decimal(12,2)', 'widened in place');

    const narrowed = parseTableDefinition({
      ...after,
      columns: after.columns.map((c) => (c.name === 'amount' ? { ...c, type: 'string' } : c)),
    });
    await assert.rejects(createTable(stack.h, narrowed), /column amount is decimal\(12,2\) in the table and string in the definition/);
  });

  it('DMS Parquet: int to bigint and a wider decimal widen the staging table too; files of both widths merge', async () => {
    const columns = ['tenant', 'id', 'seq', 'name', 'amount', 'qty'];
    const before = tableFor(uniqueName('schema_pq'), {
      staging: { location: `s3://${STAGING_BUCKET}/${uniqueName('schema_pq')}/orders/`, format: 'dms-parquet' },
      columns: [...tableFor('x').columns, { name: 'qty', type: 'int' }],
    });
    await createTable(stack.h, before);
    const after = parseTableDefinition({
      ...before,
      columns: before.columns.map((c) =>
        c.name === 'amount' ? { ...c, type: 'decimal(14,2)' } : c.name === 'qty' ? { ...c, type: 'bigint' } : c,
      ),
    });
    const reference = new ReferenceTable(before.primaryKey);
    const change = (op: ChangeEvent['op'], second: number, id: number, amount: string, qty: number): ChangeEvent => ({
      op,
      ts: `2026-11-24 10:00:${String(second).padStart(2, '0')}.000000`,
      values: { tenant: 'acme', id, seq: second, name: `n${id}`, amount, qty },
    });
    const land = async (def: TableDefinition, name: string, events: ChangeEvent[]) => {
      await putChangeFile(stack.h, def, name, events);
      reference.deliver(name, events);
    };
    await land(before, 'f1.parquet', [change('I', 1, 1, '10.25', 7), change('I', 2, 2, '20.25', 8)]);
    assert.equal((await runBatch(before)).outcome, 'merged');
    // An old-typed file waiting in staging while the definition changes: the staging table is created again, not its files.
    await land(before, 'f2.parquet', [change('U', 3, 2, '21.25', 10)]);

    const { schemaChanges } = await createTable(stack.h, after);
    // amount and qty widened in the target; the staging table dropped and created with the wider types
    assert.equal(schemaChanges.length, 4, schemaChanges.join('\n'));
    assert.deepEqual((await createTable(stack.h, after)).schemaChanges, [], 'apply twice changes nothing the second time');
    // The source now writes INT64 and DECIMAL(14,2), with values only the wider types hold.
    await land(after, 'f3.parquet', [change('U', 5, 1, '123456789012.25', 3_000_000_000), change('I', 6, 3, '30.25', 9)]);
    const result = await runBatch(after);
    assert.equal(result.outcome, 'merged');
    assert.equal(result.files, 2);
    const rows = asStrings(
      await stack.h.trino.query(
        `SELECT tenant, id, seq, name, CAST(amount AS varchar) AS amount, qty FROM iceberg."${after.database}".orders_current ORDER BY id`,
      ),
      columns,
    );
    assert.deepEqual(rows, reference.rows(columns));
    assert.deepEqual(await listUris(stack.h, after.staging.location), []);
  });
});
