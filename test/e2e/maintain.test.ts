import assert from 'node:assert/strict';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { WorkflowFailedError } from '@temporalio/client';
import type { ChangeEvent } from '../../src/changes/producers';
import type { TableDefinition } from '../../src/config/schema';
import { applyIngestSchedule } from '../../src/starters/schedule';
import { ingestScheduleId, type IngestInput, type IngestResult, type MaintainResult } from '../../src/shared';
import { parseS3Uri } from '../../src/storage/staging';
import { createTable, currentRows, listUris, putChangeFile, startWorker, tableFor, uniqueName } from '../../local/harness/harness';
import { atPace, useStackWithWorker } from '../support/suite';
import { asStrings, ReferenceTable } from '../support/reference';
import { seededRandom } from '../../local/harness/random';

const COLUMNS = ['tenant', 'id', 'seq', 'name', 'amount'];
const DAY = 86_400_000;
const text = (millis: number) => new Date(millis).toISOString().replace('T', ' ').replace('Z', '000');

describe('maintenance on the local stack: compaction, tombstone purge, snapshot expiry, orphan files', function () {
  this.timeout(atPace(600_000));
  const stack = useStackWithWorker('maintain_tq');

  const ingest = (def: TableDefinition, extra: Partial<IngestInput> = {}): Promise<IngestResult> =>
    stack.h.client.workflow.execute('ingestBatch', {
      taskQueue: stack.taskQueue,
      workflowId: uniqueName('maint-ingest'),
      args: [{ version: 1, table: def, ...extra }],
    });
  const maintain = (def: TableDefinition): Promise<MaintainResult> =>
    stack.h.client.workflow.execute('maintainTable', {
      taskQueue: stack.taskQueue,
      workflowId: uniqueName('maint'),
      args: [{ version: 1, table: def }],
    });
  const target = (def: TableDefinition, suffix = '') => `iceberg."${def.database}"."${def.table}${suffix}"`;
  /** Data and delete files per partition (truncate(id, 10): the partition is the id rounded down to ten). */
  async function filesByPartition(def: TableDefinition): Promise<Map<number, { data: string[]; deletes: number }>> {
    const rows = await stack.h.trino.query(`SELECT partition.id_trunc AS part, content, file_path FROM ${target(def, '$files')}`);
    const parts = new Map<number, { data: string[]; deletes: number }>();
    for (const row of rows) {
      const part = parts.get(Number(row.part)) ?? { data: [], deletes: 0 };
      if (Number(row.content) === 0) part.data.push(String(row.file_path));
      else part.deletes++;
      parts.set(Number(row.part), part);
    }
    for (const part of parts.values()) part.data.sort();
    return parts;
  }

  it('after 100 micro-batches: touched partitions compacted without deletes, others byte for byte; old snapshots, tombstones and orphans gone', async () => {
    // Longer than maintenance takes from the last batch to its expiry step (minutes in slow mode): that snapshot stays.
    const retainSnapshotsMs = atPace(30_000);
    const def = tableFor(uniqueName('maint'), {
      partitioning: ['truncate(id, 10)'],
      schedule: { every: '1h', lag: '0s' },
      maintenance: { retain: { snapshots: `${retainSnapshotsMs / 1000}s`, orphans: '0s', tombstones: '10d' } },
    });
    await createTable(stack.h, def);
    await applyIngestSchedule(stack.h.client, def, stack.taskQueue);
    await stack.h.client.schedule.getHandle(ingestScheduleId(def)).pause('test drives the batches');
    const reference = new ReferenceTable(def.primaryKey);
    const random = seededRandom(6);
    // Commit times 20 days back: their tombstones are past the 10-day retention.
    const base = Date.now() - 20 * DAY;
    let seq = 0;
    const change = (op: ChangeEvent['op'], id: number): ChangeEvent => ({
      op,
      ts: text(base + ++seq * 1000),
      values: { tenant: 't', id, seq, name: op === 'D' ? null : `n${seq}`, amount: op === 'D' ? null : (random() * 100).toFixed(2) },
    });
    const deliver = async (name: string, events: ChangeEvent[]) => {
      await putChangeFile(stack.h, def, name, events);
      reference.deliver(name, events);
      assert.equal((await ingest(def)).outcome, 'merged');
    };

    // Ten partitions of ten keys, compacted once: the table as a previous day's maintenance left it.
    await deliver(
      '000-seed.csv',
      Array.from({ length: 100 }, (_, i) => change('I', i)),
    );
    await maintain(def);
    const settled = await filesByPartition(def);

    // 100 one-file batches touching only keys 0-29 (partitions 0, 10, 20), deletes among them.
    for (let batch = 1; batch <= 100; batch++) {
      const events = Array.from({ length: 3 }, () => change(random() < 0.3 ? 'D' : 'U', Math.floor(random() * 30)));
      await deliver(`${String(batch).padStart(3, '0')}.csv`, events);
    }
    const before = await filesByPartition(def);
    assert.ok(
      [0, 10, 20].every((p) => before.get(p)!.deletes > 0 && before.get(p)!.data.length > 5),
      'batches left small files and deletes',
    );
    // The oldest snapshot (by commit time; ids are random) must be past the retention when expiry runs.
    const [expired] = await stack.h.trino.query(
      `SELECT CAST(snapshot_id AS varchar) AS id, to_unixtime(committed_at) AS at FROM ${target(def, '$snapshots')} ORDER BY committed_at LIMIT 1`,
    );
    const age = Date.now() - Number(expired.at) * 1000;
    if (age < retainSnapshotsMs + 5000) await new Promise((resolve) => setTimeout(resolve, retainSnapshotsMs + 5000 - age));
    await deliver('101.csv', [change('U', 5)]);
    const [recent] = await stack.h.trino.query(
      `SELECT CAST(snapshot_id AS varchar) AS id FROM ${target(def, '$snapshots')} ORDER BY committed_at DESC LIMIT 1`,
    );
    const recentRows = await stack.h.trino.query(`SELECT count(*) AS n FROM ${target(def)} FOR VERSION AS OF ${String(recent.id)}`);
    // An orphan: a file under the table's data location that no snapshot references.
    const { bucket, key } = parseS3Uri(before.get(50)!.data[0]);
    const orphanKey = key.replace(/[^/]+$/, 'orphan-left-by-a-failed-write.parquet');
    await stack.h.s3.send(new PutObjectCommand({ Bucket: bucket, Key: orphanKey, Body: 'not referenced' }));

    const tombstonesBefore = await stack.h.trino.query(`SELECT count(*) AS n FROM ${target(def)} WHERE _icetide_deleted`);
    assert.ok(Number(tombstonesBefore[0].n) > 0);
    const result = await maintain(def);

    const after = await filesByPartition(def);
    for (const part of [0, 10, 20]) {
      assert.equal(after.get(part)!.data.length, 1, `partition ${part} compacted to one file`);
      assert.equal(after.get(part)!.deletes, 0, `partition ${part} has no delete files`);
    }
    for (let part = 30; part < 100; part += 10) assert.deepEqual(after.get(part), settled.get(part), `partition ${part} untouched`);
    assert.deepEqual(asStrings(await currentRows(stack.h, def), COLUMNS), reference.rows(COLUMNS), 'current view equals the reference');
    assert.equal(result.compaction.after.deleteFiles, 0);
    assert.equal(result.compaction.after.partitionsToCompact, 0);
    assert.equal(result.compaction.before.partitionsToCompact, 3);

    // Tombstones: all were older than the retention.
    assert.equal(result.purge?.tombstones, Number(tombstonesBefore[0].n));
    const [left] = await stack.h.trino.query(`SELECT count(*) AS n FROM ${target(def)} WHERE _icetide_deleted`);
    assert.equal(Number(left.n), 0);

    // Snapshots: the oldest is gone, the recent one still reads.
    await assert.rejects(stack.h.trino.query(`SELECT count(*) FROM ${target(def)} FOR VERSION AS OF ${String(expired.id)}`));
    assert.deepEqual(
      await stack.h.trino.query(`SELECT count(*) AS n FROM ${target(def)} FOR VERSION AS OF ${String(recent.id)}`),
      recentRows,
    );
    assert.ok(result.expiry.after.snapshots < result.expiry.before.snapshots);
    assert.ok(result.expiry.filesDeleted > 0, 'files of expired snapshots deleted');

    // Orphans.
    assert.ok(!(await listUris(stack.h, `s3://${bucket}/${orphanKey}`)).length, 'the orphan file was removed');
    assert.ok((result.orphans?.filesDeleted ?? 0) >= 1);
    assert.deepEqual(result.warnings, []);
    console.log(
      `      data files ${result.compaction.before.dataFiles} → ${result.compaction.after.dataFiles}, delete files ` +
        `${result.compaction.before.deleteFiles} → 0, snapshots ${result.expiry.before.snapshots} → ${result.expiry.after.snapshots}, ` +
        `${result.purge?.tombstones} tombstones purged; compaction ${result.compaction.millis} ms, expiry ${result.expiry.millis} ms`,
    );

    // The purge horizon reached the ingest schedule: a change older than it is refused, naming file and line.
    const schedule = await stack.h.client.schedule.getHandle(ingestScheduleId(def)).describe();
    assert.equal(schedule.state.paused, true, "the person's pause is kept");
    const [args] = (schedule.action as { args: IngestInput[] }).args;
    assert.equal(args.purgedThrough, result.purge?.horizon);
    const late = await putChangeFile(stack.h, def, 'late.csv', [change('U', 1), { ...change('U', 2), ts: text(base) }]);
    await assert.rejects(ingest(def, { purgedThrough: args.purgedThrough }), (err) => {
      assert.ok(err instanceof WorkflowFailedError);
      assert.match(
        String(err.cause?.message),
        new RegExp(
          `${late.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} has bad rows.*line 2: commit time .* older than the tombstone purge horizon`,
        ),
      );
      return true;
    });
  });

  it('ingestion on a 1-second schedule and maintenance together: every run succeeds, the table equals the reference', async () => {
    const def = tableFor(uniqueName('maint_live'), {
      partitioning: ['truncate(id, 10)'],
      schedule: { every: '1s', lag: '0s' },
      maintenance: { retain: { snapshots: '0s', orphans: '0s' } },
    });
    await createTable(stack.h, def);
    const reference = new ReferenceTable(def.primaryKey);
    const random = seededRandom(11);
    let seq = 0;
    const landed = new Map<string, number>();
    const produce = async (files: number) => {
      for (let f = 0; f < files; f++) {
        const name = `${String(++seq).padStart(4, '0')}.csv`;
        const events = Array.from({ length: 4 }, () => {
          const op = random() < 0.2 ? ('D' as const) : ('U' as const);
          return {
            op,
            ts: text(Date.now() - DAY + seq * 10 + Math.floor(random() * 10)),
            values: { tenant: 't', id: Math.floor(random() * 60), seq, name: `n${seq}`, amount: '1.00' },
          };
        });
        await putChangeFile(stack.h, def, name, events);
        reference.deliver(name, events);
        landed.set(name, Date.now());
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    };
    const schedule = stack.h.client.schedule.getHandle(await applyIngestSchedule(stack.h.client, def, stack.taskQueue));
    // Watch staging: when each file is gone (merged and cleaned up) tells how long it waited.
    const waited: { name: string; ms: number; duringMaintenance: boolean }[] = [];
    let maintaining = false;
    let maintained: MaintainResult | undefined;
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const left = new Set((await listUris(stack.h, def.staging.location)).map((u) => u.slice(def.staging.location.length)));
        for (const [name, at] of landed) {
          if (!left.has(name)) {
            waited.push({ name, ms: Date.now() - at, duringMaintenance: maintaining });
            landed.delete(name);
          }
        }
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    })();
    try {
      await produce(20);
      maintaining = true;
      [maintained] = await Promise.all([maintain(def), produce(30)]);
      maintaining = false;
      assert.equal(maintained.outcome, 'maintained');
      for (const until = Date.now() + atPace(60_000); Date.now() < until && landed.size > 0;)
        await new Promise((resolve) => setTimeout(resolve, 500));
      assert.equal(landed.size, 0, 'every file was merged');
    } finally {
      watching = false;
      await watcher;
      await schedule.pause('test done');
    }
    assert.deepEqual(asStrings(await currentRows(stack.h, def), COLUMNS), reference.rows(COLUMNS));
    const runs = { ok: 0, failed: 0 };
    for await (const run of stack.h.client.workflow.list({ query: `IcetideTable = "${def.database}.${def.table}"` })) {
      if (run.status.name === 'FAILED' || run.status.name === 'TERMINATED' || run.status.name === 'TIMED_OUT') runs.failed++;
      else runs.ok++;
    }
    assert.equal(runs.failed, 0, 'no ingest run failed');
    assert.ok(runs.ok >= 3, `ingest runs took place (${runs.ok})`);
    const longest = (during: boolean) => Math.max(...waited.filter((w) => w.duringMaintenance === during).map((w) => w.ms)) / 1000;
    console.log(
      `      ${runs.ok} scheduled runs, none failed; longest a file waited: ${longest(true).toFixed(1)} s while maintenance ran ` +
        `(compaction step ${((maintained?.compaction.millis ?? 0) / 1000).toFixed(1)} s), ${longest(false).toFixed(1)} s otherwise`,
    );
  });

  it('refuses a retention below the deployment floor before anything runs, naming table and setting', async () => {
    // This worker's floor is the local stack's (0s); a negative margin cannot be written, so check the message path
    // with a floor raised for one worker.
    const def = tableFor(uniqueName('maint_floor'), { maintenance: { retain: { snapshots: '1h' } } });
    const taskQueue = uniqueName('maint_floor_tq');
    const worker = await startWorker(stack.h, taskQueue, { ...stack.h.deps, minRetentionMs: 2 * 3_600_000 });
    try {
      await assert.rejects(
        stack.h.client.workflow.execute('maintainTable', {
          taskQueue,
          workflowId: uniqueName('maint'),
          args: [{ version: 1, table: def }],
        }),
        (err) => {
          assert.ok(err instanceof WorkflowFailedError);
          assert.match(
            String(err.cause?.message),
            /table maint_floor_\w+\.orders: step check retention failed: .*maintenance\.retain\.snapshots is 1h, below this deployment's floor/,
          );
          return true;
        },
      );
    } finally {
      await worker.stop();
    }
  });
});
