import assert from 'node:assert/strict';
import { WorkflowFailedError } from '@temporalio/client';
import { renderDmsCsv, type ChangeEvent } from '../../src/changes/producers';
import { gzipSync } from 'node:zlib';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  UploadPartCommand,
  type ListObjectsV2CommandOutput,
} from '@aws-sdk/client-s3';
import { createS3Client } from '../../src/deps';
import type { TableDefinition } from '../../src/config/schema';
import { quarantineLocation } from '../../src/activities';
import { parseS3Uri, StagingStore } from '../../src/storage/staging';
import type { IngestResult, Watermark } from '../../src/shared';
import { createTable, currentRows, listUris, putChangeFile, startWorker, tableFor, uniqueName } from '../../local/harness/harness';
import { atPace, useStackWithWorker } from '../support/suite';
import { asStrings, ReferenceTable } from '../support/reference';
import { seededRandom } from '../../local/harness/random';

const COLUMNS = ['tenant', 'id', 'seq', 'name', 'amount'];
const ts = (second: number, micros = 0) =>
  `2026-11-21 10:${String(Math.floor(second / 60)).padStart(2, '0')}:${String(second % 60).padStart(2, '0')}.${String(micros).padStart(6, '0')}`;
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
  values: { tenant, id, seq, name, amount },
});

describe('ingest on the local stack (Trino + MinIO + Temporal)', function () {
  this.timeout(atPace(300_000));
  const stack = useStackWithWorker('ingest_tq');

  const runBatch = (def: TableDefinition, watermark?: Watermark): Promise<IngestResult> =>
    stack.h.client.workflow.execute('ingestBatch', {
      taskQueue: stack.taskQueue,
      workflowId: uniqueName(`ingest-${def.database}`),
      args: [{ version: 1, table: def, watermark }],
    });

  async function expectTableEquals(def: TableDefinition, reference: ReferenceTable, when: string) {
    assert.deepEqual(
      asStrings(await currentRows(stack.h, def), COLUMNS),
      reference.rows(COLUMNS),
      `table differs from the reference ${when}`,
    );
  }

  it('applies a generated change stream over several batches: table equals the reference, staging holds exactly the unmerged files', async () => {
    const def = tableFor(uniqueName('stream'), { batch: { maxFiles: 3 } });
    await createTable(stack.h, def);
    const reference = new ReferenceTable(def.primaryKey);
    const random = seededRandom(20261121);
    const tenants = ['acme', 'globex'];
    let clock = 0;
    let seq = 0;
    const randomEvents = (n: number): ChangeEvent[] =>
      Array.from({ length: n }, () => {
        const op = (['I', 'U', 'U', 'D'] as const)[Math.floor(random() * 4)];
        const id = 1 + Math.floor(random() * 12);
        return ev(op, (clock += 1), tenants[Math.floor(random() * 2)], id, (seq += 1), `n${seq}`, (random() * 1000).toFixed(2));
      });

    // Scripted cases on top of the random traffic (tenant 'edge' keeps them apart from it).
    const scripted: ChangeEvent[][] = [
      // file 1: insert; duplicate event in the same file; out of order within the file
      [
        ev('U', 300, 'edge', 1, 2, 'one-v2', '2.00'),
        ev('I', 299, 'edge', 1, 1, 'one-v1', '1.00'),
        ev('U', 300, 'edge', 1, 2, 'one-v2', '2.00'),
      ],
      // file 2: equal commit times broken by sequence (9 < 10 as numbers), delete then re-insert of key 2
      [
        ev('U', 301, 'edge', 3, 10, 'three-seq10', '10.00'),
        ev('U', 301, 'edge', 3, 9, 'three-seq9', '9.00'),
        ev('I', 290, 'edge', 2, 1, 'two', '2.00'),
        ev('D', 302, 'edge', 2, 2, null, null),
        ev('I', 303, 'edge', 2, 3, 'two-again', '2.50'),
        ev('I', 310, 'edge', 5, 1, 'five', '5.00'),
      ],
      // file 3: a delete of key 4 that was never seen, arriving before its insert (out of order across files); key 5 deleted
      [ev('D', 305, 'edge', 4, 2, null, null), ev('D', 312, 'edge', 5, 3, null, null)],
      // file 4: the stale insert of key 4, a stale update of key 1 (older than file 1's update), and a stale update
      // of key 5 that happened before its delete but arrives after it: none of them may bring a row back or win
      [
        ev('I', 304, 'edge', 4, 1, 'four', '4.00'),
        ev('U', 298, 'edge', 1, 0, 'one-stale', '0.50'),
        ev('U', 311, 'edge', 5, 2, 'five-stale', '5.50'),
      ],
    ];
    const batches: ChangeEvent[][][] = [
      [scripted[0], randomEvents(25), scripted[1], randomEvents(25)],
      [scripted[2], randomEvents(30)],
      [randomEvents(20), scripted[3]],
    ];

    let watermark: Watermark | undefined;
    let fileNumber = 0;
    const pending: string[] = [];
    for (const [b, files] of batches.entries()) {
      for (const events of files) {
        const name = `2026/11/21/20261121-10${String(++fileNumber).padStart(4, '0')}.csv`;
        pending.push(await putChangeFile(stack.h, def, name, events));
        reference.deliver(name, events);
      }
      // maxFiles 3: a batch of 4 files takes two runs; the first leaves exactly the newest file in staging.
      while (pending.length > 0) {
        const expectedTaken = pending.splice(0, 3);
        const result = await runBatch(def, watermark);
        assert.equal(result.outcome, 'merged');
        assert.equal(result.files, expectedTaken.length, `batch ${b + 1}`);
        assert.deepEqual(await listUris(stack.h, def.staging.location), [...pending].sort(), 'staging holds exactly the unmerged files');
        assert.ok(!watermark?.appliedThrough || result.watermark.appliedThrough! >= watermark.appliedThrough, 'watermark never moves back');
        watermark = result.watermark;
      }
      // Files of the batch whose rows are merged: the reference holds them all now.
      await expectTableEquals(def, reference, `after batch ${b + 1}`);
    }
    assert.equal(watermark?.appliedThrough, reference.maxCommitTs());
    const edge = asStrings(
      await stack.h.trino.query(`SELECT id, name FROM iceberg."${def.database}".orders_current WHERE tenant = 'edge' ORDER BY id`),
      ['id', 'name'],
    );
    assert.deepEqual(edge, [
      { id: '1', name: 'one-v2' },
      { id: '2', name: 'two-again' },
      { id: '3', name: 'three-seq10' },
    ]);
  });

  it('replaying an already merged batch changes nothing', async () => {
    const def = tableFor(uniqueName('replay'), { primaryKey: ['id'] }); // an integer key: the MERGE prunes by key range
    await createTable(stack.h, def);
    const events = [ev('I', 1, 'a', 1, 1, 'x', '1.00'), ev('U', 2, 'a', 1, 2, 'y', '2.00'), ev('I', 3, 'a', 2, 3, 'z', '3.00')];
    await putChangeFile(stack.h, def, 'f1.csv', events);
    await runBatch(def);
    const before = await currentRows(stack.h, def);
    const filesSql = `SELECT count(*) AS files, sum(record_count) AS records FROM iceberg."${def.database}"."orders$files"`;
    const filesBefore = await stack.h.trino.query(filesSql);
    await putChangeFile(stack.h, def, 'f1.csv', events);
    const replay = await runBatch(def);
    assert.equal(replay.outcome, 'merged');
    assert.deepEqual(await currentRows(stack.h, def), before);
    assert.deepEqual(await listUris(stack.h, def.staging.location), []);
    // The replayed MERGE matched only rows it was not newer than: no data or delete file was written.
    assert.deepEqual(await stack.h.trino.query(filesSql), filesBefore);
  });

  it('a failing MERGE fails the run naming table and query; staging and watermark are untouched', async () => {
    const def = tableFor(uniqueName('failing'));
    await createTable(stack.h, def);
    // Every row is good (the check would name a bad one before any MERGE): the target lost a column the MERGE writes.
    await stack.h.trino.query(`ALTER TABLE iceberg."${def.database}"."orders" DROP COLUMN name`);
    const uri = await putChangeFile(stack.h, def, 'f1.csv', [ev('I', 1, 'a', 1, 1, 'x', '1.00')]);
    const watermark: Watermark = { version: 1, appliedThrough: '2026-01-01 00:00:00.000000' };
    await assert.rejects(runBatch(def, watermark), (err: unknown) => {
      assert.ok(err instanceof WorkflowFailedError);
      const message = String(err.cause?.message);
      assert.match(message, new RegExp(`table ${def.database}\\.orders: MERGE query \\w+ FAILED: .*does not exist in target table`, 'i'));
      return true;
    });
    assert.deepEqual(await listUris(stack.h, def.staging.location), [uri]);
    assert.deepEqual(await stack.h.trino.query(`SELECT count(*) AS n FROM iceberg."${def.database}"."orders"`), [{ n: 0 }]);
  });

  it('a bad change file fails the batch naming table, file and line, and nothing is merged', async () => {
    const def = tableFor(uniqueName('badrow'));
    await createTable(stack.h, def);
    const good = await putChangeFile(stack.h, def, 'a.csv', [ev('I', 1, 'a', 1, 1, 'x', '1.00')]);
    const bad = await putChangeFile(
      stack.h,
      def,
      'b.csv',
      'I,2026-11-21 10:00:02,a,2,2,y,2.00\nX,2026-11-21 10:00:03,a,3,3,z,3.00\nU,2026-11-21 10:00:04,,4,4,w,4.00\n',
    );
    await assert.rejects(runBatch(def), (err: unknown) => {
      assert.ok(err instanceof WorkflowFailedError);
      const message = String((err.cause?.cause as Error | undefined)?.message ?? err.cause?.message);
      assert.match(message, new RegExp(`table ${def.database}\\.orders: change file ${bad} has bad rows`));
      assert.match(message, /line 2: Op is not I, U or D/);
      assert.match(message, /line 3: primary key column tenant is null/);
      return true;
    });
    assert.deepEqual(await listUris(stack.h, def.staging.location), [good, bad].sort());
    assert.deepEqual(await currentRows(stack.h, def), []);
  });

  it('quarantine mode sets a bad file aside whole, merges the rest and reports it; stray objects are ignored', async () => {
    const def = tableFor(uniqueName('quarantine'), { badInput: 'quarantine' });
    await createTable(stack.h, def);
    await putChangeFile(stack.h, def, 'a.csv', [ev('I', 1, 'a', 1, 1, 'x', '1.00')]);
    const bad = await putChangeFile(stack.h, def, 'b.csv', 'I,not-a-time,a,2,2,y,2.00\n');
    const empty = await putChangeFile(stack.h, def, 'c.csv', '');
    const stray = await putChangeFile(stack.h, def, '_SUCCESS', 'marker');
    const result = await runBatch(def);
    assert.equal(result.outcome, 'merged');
    assert.equal(result.files, 2); // a.csv and the empty c.csv
    assert.equal(result.ignoredFiles, 1);
    assert.deepEqual(
      result.quarantined.map((q) => [q.uri, q.line]),
      [[bad, 1]],
    );
    assert.match(result.quarantined[0].problem, /^commit timestamp is not yyyy-MM-dd/);
    assert.deepEqual(await listUris(stack.h, def.staging.location), [stray]);
    assert.deepEqual(await listUris(stack.h, quarantineLocation(def)), [quarantineLocation(def) + 'b.csv']);
    assert.ok(!(await listUris(stack.h, def.staging.location)).includes(empty));
    assert.deepEqual(asStrings(await currentRows(stack.h, def), ['id']), [{ id: '1' }]);
  });

  it('merges gzipped change files (.csv.gz, DMS CompressionType GZIP) next to plain ones', async () => {
    const def = tableFor(uniqueName('gzip'));
    await createTable(stack.h, def);
    const reference = new ReferenceTable(def.primaryKey);
    const plain = [ev('I', 1, 'g', 1, 1, 'one', '1.00'), ev('I', 2, 'g', 2, 2, 'two', '2.00')];
    const zipped = [ev('U', 3, 'g', 1, 3, 'one-zipped', '1.50'), ev('D', 4, 'g', 2, 4, null, null), ev('I', 5, 'g', 3, 5, 'three', '3.00')];
    await putChangeFile(stack.h, def, 'a.csv', plain);
    reference.deliver('a.csv', plain);
    await putChangeFile(stack.h, def, 'b.csv.gz', gzipSync(renderDmsCsv(def, zipped)));
    reference.deliver('b.csv.gz', zipped);
    const result = await runBatch(def);
    assert.equal(result.files, 2);
    assert.equal(result.rows, 5);
    await expectTableEquals(def, reference, 'after a gzipped file');
    assert.deepEqual(await listUris(stack.h, def.staging.location), []);
  });

  it('merges files with hostile object keys safely, and leaves names the engine hides untouched', async () => {
    const def = tableFor(uniqueName('hostile'));
    await createTable(stack.h, def);
    const reference = new ReferenceTable(def.primaryKey);
    const keys = [
      "it's'); DROP TABLE orders; --.csv",
      'semi;colon -- dash.csv',
      'new\nline.csv',
      'ünïcødé-日本 %2F+.csv',
      `${'d'.repeat(240)}/${'e'.repeat(240)}/${'f'.repeat(240)}/${'g'.repeat(200)}.csv`,
    ];
    for (const [i, key] of keys.entries()) {
      const events = [ev('I', i + 1, 'h', i + 1, 1, `row-${i}`, '1.00')];
      await putChangeFile(stack.h, def, key, events);
      reference.deliver(key, events);
    }
    const hidden = [await putChangeFile(stack.h, def, '_hidden.csv', 'I,2026-11-21 10:00:00,h,99,1,x,1.00\n')];
    hidden.push(await putChangeFile(stack.h, def, '.also-hidden.csv', 'I,2026-11-21 10:00:00,h,98,1,x,1.00\n'));
    const result = await runBatch(def);
    assert.equal(result.outcome, 'merged');
    assert.equal(result.files, keys.length);
    assert.equal(result.ignoredFiles, 2);
    await expectTableEquals(def, reference, 'after merging hostile keys');
    assert.deepEqual(await listUris(stack.h, def.staging.location), hidden.sort(), 'only the hidden files are left');
  });

  it('archive mode moves exactly the merged files under the archive location', async () => {
    const database = uniqueName('archive');
    const archive = `s3://icetide-staging/${database}-archive/orders/`;
    const def = tableFor(database, { cleanup: { mode: 'archive', location: archive } });
    await createTable(stack.h, def);
    await putChangeFile(stack.h, def, '2026/11/21/f1.csv', [ev('I', 1, 'a', 1, 1, 'x', '1.00')]);
    await runBatch(def);
    assert.deepEqual(await listUris(stack.h, def.staging.location), []);
    assert.deepEqual(await listUris(stack.h, archive), [`${archive}2026/11/21/f1.csv`]);
  });

  it('retain mode by arrival merges a multipart upload that completes after a later single-part file moved the position', async () => {
    // S3 gives a multipart object the time its upload was initiated as LastModified ("for multipart uploads, the object
    // creation date is the date of initiation of the multipart upload", S3 User Guide, object metadata); MinIO gives
    // the time it completed. The upload below is a real one on MinIO; the worker lists it through a client that
    // reports its LastModified as S3 does.
    const initiated = new Map<string, Date>();
    const s3 = createS3Client(stack.h.config);
    s3.middlewareStack.add(
      (next, context) => async (args) => {
        const result = await next(args);
        if (context.commandName === 'ListObjectsV2Command') {
          for (const object of (result.output as ListObjectsV2CommandOutput).Contents ?? []) {
            object.LastModified = initiated.get(object.Key!) ?? object.LastModified;
          }
        }
        return result;
      },
      { step: 'initialize', name: 'lastModifiedAsS3' },
    );
    const taskQueue = uniqueName('retain_mp_tq');
    const worker = await startWorker(stack.h, taskQueue, { ...stack.h.deps, staging: new StagingStore(s3) });
    const run = (def: TableDefinition, watermark?: Watermark): Promise<IngestResult> =>
      stack.h.client.workflow.execute('ingestBatch', {
        taskQueue,
        workflowId: uniqueName('retain_mp'),
        args: [{ version: 1, table: def, watermark }],
      });
    try {
      const def = tableFor(uniqueName('retain_mp'), { cleanup: { mode: 'retain', order: 'arrival' } });
      await createTable(stack.h, def);
      const { bucket, key } = parseS3Uri(`${def.staging.location}big.csv`);
      // A large file's upload starts ...
      initiated.set(key, new Date(Math.floor(Date.now() / 1000) * 1000));
      const { UploadId } = await stack.h.s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
      await new Promise((resolve) => setTimeout(resolve, 1500));
      // ... a smaller file lands after it, and a batch takes it: the position moves past the upload's start.
      const small = await putChangeFile(stack.h, def, 'small.csv', [ev('I', 1, 'a', 1, 1, 'small', '1.00')]);
      const first = await run(def);
      assert.equal(first.files, 1);
      assert.equal(first.watermark.position?.uri, small);
      // The upload completes now, behind the position.
      const body = renderDmsCsv(def, [ev('I', 2, 'a', 2, 2, 'big', '2.00')]);
      const { ETag } = await stack.h.s3.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: 1, Body: body }));
      await stack.h.s3.send(
        new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId, MultipartUpload: { Parts: [{ ETag, PartNumber: 1 }] } }),
      );
      const [big] = await new StagingStore(s3).list(`s3://${bucket}/${key}`);
      assert.ok(big.lastModified < first.watermark.position!.lastModified, 'the multipart file lands behind the position');

      const second = await run(def, first.watermark);
      assert.equal(second.outcome, 'merged');
      assert.equal(second.files, 1);
      assert.deepEqual(asStrings(await currentRows(stack.h, def), ['name']), [{ name: 'small' }, { name: 'big' }]);
      // Taken once: the next run finds nothing, and both files stay where they are.
      const third = await run(def, second.watermark);
      assert.equal(third.outcome, 'idle');
      assert.deepEqual(third.watermark, second.watermark);
      assert.deepEqual(await listUris(stack.h, def.staging.location), [`s3://${bucket}/${key}`, small]);
    } finally {
      await worker.stop();
    }
  });

  it('retain mode leaves the files in place and moves on by arrival position', async () => {
    const def = tableFor(uniqueName('retain'), { cleanup: { mode: 'retain' } });
    await createTable(stack.h, def);
    const f1 = await putChangeFile(stack.h, def, 'f1.csv', [ev('I', 1, 'a', 1, 1, 'x', '1.00')]);
    const first = await runBatch(def);
    assert.equal(first.watermark.position?.uri, f1);
    const f2 = await putChangeFile(stack.h, def, 'f2.csv', [ev('U', 2, 'a', 1, 2, 'y', '2.00')]);
    const second = await runBatch(def, first.watermark);
    assert.equal(second.files, 1, 'only the new file is read');
    assert.equal(second.watermark.position?.uri, f2);
    const third = await runBatch(def, second.watermark);
    assert.equal(third.outcome, 'idle');
    assert.deepEqual(third.watermark, second.watermark);
    assert.deepEqual(await listUris(stack.h, def.staging.location), [f1, f2]);
    assert.deepEqual(asStrings(await currentRows(stack.h, def), ['name']), [{ name: 'y' }]);
  });
});
