import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApplicationFailure, WorkflowFailedError } from '@temporalio/client';
import type { ChangeEvent } from '../../src/changes/producers';
import type { TableDefinition } from '../../src/config/schema';
import type { BlockedState, IngestResult } from '../../src/shared';
import type { Project } from '../../src/config/project';
import { applyIngestSchedule, triggerIngest } from '../../src/starters/schedule';
import { describeStatus, tableStatus } from '../../src/starters/status';
import { createTable, currentRows, listUris, putChangeFile, tableFor, uniqueName } from '../../local/harness/harness';
import { ingestOnce, useStackWithWorker } from '../support/suite';
import { asStrings, ReferenceTable } from '../support/reference';

const COLUMNS = ['tenant', 'id', 'seq', 'name', 'amount'];
const iso = (ms: number) => new Date(ms).toISOString().replace('T', ' ').replace('Z', '000');

/**
 * Production's skew and size on the real stack: source clocks ahead of the worker's, a batch spanning more
 * partitions than the engine writes in one statement, and a batch no retry can fix.
 */
describe('production skew and size (Trino + MinIO + Temporal)', function () {
  this.timeout(300_000);
  const stack = useStackWithWorker('prod_tq');

  const runBatch = (def: TableDefinition) => ingestOnce(stack, def);

  async function expectTableEquals(def: TableDefinition, reference: ReferenceTable, columns = COLUMNS) {
    assert.deepEqual(asStrings(await currentRows(stack.h, def), columns), reference.rows(columns), 'table differs from the reference');
  }

  it('lands a batch whose commit times are half an hour ahead of the worker clock; lag is 0, not a parked run', async () => {
    const def = tableFor(uniqueName('skew'));
    await createTable(stack.h, def);
    const ahead = Date.now() + 30 * 60_000;
    const events: ChangeEvent[] = [
      { op: 'I', ts: iso(ahead), values: { tenant: 's', id: 1, seq: 1, name: 'a', amount: '1.00' } },
      { op: 'I', ts: iso(ahead + 1000), values: { tenant: 's', id: 2, seq: 2, name: 'b', amount: '2.00' } },
    ];
    await putChangeFile(stack.h, def, 'ahead.csv', events);
    const reference = new ReferenceTable(def.primaryKey);
    reference.deliver('ahead.csv', events);
    const result = await runBatch(def);
    assert.equal(result.outcome, 'merged');
    assert.equal(result.watermark.appliedThrough, iso(ahead + 1000));
    await expectTableEquals(def, reference);
    assert.deepEqual(await listUris(stack.h, def.staging.location), []);
  });

  it('applies a batch spanning 350 day partitions as several MERGEs, each within the engine limit of 100', async () => {
    const base = tableFor(uniqueName('days'));
    const def = tableFor(base.database, {
      columns: [...base.columns, { name: 'ordered_at', type: 'timestamp' }],
      partitioning: ['day(ordered_at)'],
    });
    await createTable(stack.h, def);
    const day = (i: number) => iso(Date.UTC(2025, 0, 1) + i * 86_400_000 + 3_600_000);
    const change = (op: ChangeEvent['op'], id: number, second: number, name: string): ChangeEvent => ({
      op,
      ts: `2026-11-21 10:00:${String(second).padStart(2, '0')}.000000`,
      values: { tenant: 't', id, seq: second, name, amount: `${id}.00`, ordered_at: day(id % 350) },
    });
    // 700 orders over 350 days, then updates and deletes of some: one file, one batch.
    const inserts = Array.from({ length: 700 }, (_, id) => change('I', id, 1, `new ${id}`));
    const later = Array.from({ length: 700 }, (_, id) => id)
      .filter((id) => id % 7 === 0)
      .map((id) => change(id % 2 ? 'D' : 'U', id, 2, `changed ${id}`));
    const reference = new ReferenceTable(def.primaryKey);
    await putChangeFile(stack.h, def, 'days1.csv', inserts);
    await putChangeFile(stack.h, def, 'days2.csv', later);
    reference.deliver('days1.csv', inserts);
    reference.deliver('days2.csv', later);

    const result = await runBatch(def);
    assert.equal(result.outcome, 'merged');
    assert.equal(result.files, 2);
    assert.ok((result.statements ?? 1) >= 4, `${result.statements} statements for 350 partitions`);
    await expectTableEquals(def, reference, [...COLUMNS]);
    const [{ partitions }] = await stack.h.trino.query(
      `SELECT count(DISTINCT date_trunc('day', ordered_at)) AS partitions FROM iceberg."${def.database}"."${def.table}_current"`,
    );
    const days = new Set(reference.rows(['ordered_at']).map((r) => r.ordered_at!.slice(0, 10)));
    assert.equal(Number(partitions), days.size);
    assert.ok(days.size > 300, `${days.size} live partitions`);
    assert.deepEqual(await listUris(stack.h, def.staging.location), [], 'staging cleaned after the last slice');
  });

  describe('a batch no retry can fix', () => {
    let server: Server;
    const alerts: string[] = [];
    before(async () => {
      server = createServer((req, res) => {
        let body = '';
        req.on('data', (chunk) => (body += chunk));
        req.on('end', () => {
          alerts.push((JSON.parse(body) as { text: string }).text);
          res.end('ok');
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    });
    after(() => new Promise<void>((resolve) => server.close(() => resolve())));

    /** The runs of the table's schedule, oldest first, with their failure when they failed. */
    async function runs(table: string) {
      const found = [];
      for await (const run of stack.h.client.workflow.list({ query: `IcetideTable = "${table}" AND ExecutionStatus != "Running"` })) {
        const handle = stack.h.client.workflow.getHandle(run.workflowId, run.runId);
        found.push({
          start: run.startTime,
          result: await handle.result().then(
            (r: IngestResult) => ({ ok: r }),
            (err: unknown) => ({ failure: err instanceof WorkflowFailedError ? (err.cause as ApplicationFailure) : undefined }),
          ),
        });
      }
      return found.sort((a, b) => a.start.getTime() - b.start.getTime());
    }

    it('blocks the table (one alert, backoff, no engine work while blocked) and resumes by itself once the file is fixed', async () => {
      const port = (server.address() as AddressInfo).port;
      const def = tableFor(uniqueName('blocked'), {
        schedule: { every: '2s', lag: '0s' },
        limits: { blockedRetryMax: '8s' },
        alerts: { webhook: `http://127.0.0.1:${port}/hook` },
      });
      await createTable(stack.h, def);
      const good: ChangeEvent[] = [
        { op: 'I', ts: '2026-11-21 10:00:01.000000', values: { tenant: 't', id: 1, seq: 1, name: 'ok', amount: '1.00' } },
      ];
      await putChangeFile(stack.h, def, 'a-bad.csv', 'X,2026-11-21 10:00:00.000000,t,2,2,bad,1.00\n');
      await putChangeFile(stack.h, def, 'b-good.csv', good);
      const scheduleId = await applyIngestSchedule(stack.h.client, def, stack.taskQueue);
      const schedule = stack.h.client.schedule.getHandle(scheduleId);
      try {
        // Ticks every 2 s: the attempts wait 2, 4, 8, 8 s: far fewer attempts than ticks.
        await new Promise((resolve) => setTimeout(resolve, 16_000));
        const blocked = await runs(`${def.database}.${def.table}`);
        const failures = blocked.map((r) => ('failure' in r.result ? r.result.failure : undefined));
        assert.ok(failures.length >= 5, `${failures.length} runs`);
        assert.ok(
          failures.every((f) => f?.type === 'TableBlocked'),
          `every run fails as blocked: ${failures.map((f) => `${f?.type}: ${f?.message}`).join('\n')}`,
        );
        const states = failures.map((f) => f?.details?.[0] as BlockedState);
        assert.match(failures[0]!.message, /a-bad\.csv has bad rows.* — BLOCKED since .*Way out: /);
        const attempts = Math.max(...states.map((s) => s.attempts));
        assert.ok(attempts >= 2 && attempts < failures.length, `${attempts} attempts in ${failures.length} runs: the rest failed at once`);
        assert.equal(new Set(states.map((s) => s.since)).size, 1, 'one blocked period');
        assert.equal(alerts.filter((a) => a.includes(def.database)).length, 1, 'one alert, when it became blocked');
        assert.match(
          alerts.find((a) => a.includes(def.database))!,
          /BLOCKED/,
        );
        assert.deepEqual(asStrings(await currentRows(stack.h, def), ['name']), [], 'nothing merged while blocked');
        const status = await tableStatus(stack.h.client, stack.h.deps.staging, { runtime: stack.h.config } as Project, def);
        assert.equal(status.blocked?.since, states[0].since, '`icetide status` says the table is blocked');
        assert.match(describeStatus(status), /BLOCKED since .* next attempt .*a-bad\.csv has bad rows/);

        // The way out: the bad file is fixed (here: removed). The next due attempt merges, no one has to step in.
        await putChangeFile(stack.h, def, 'a-bad.csv', 'I,2026-11-21 10:00:00.000000,t,2,2,fixed,1.00\n');
        await triggerIngest(stack.h.client, def);
        for (let i = 0; i < 60; i++) {
          const rows = asStrings(await currentRows(stack.h, def), ['name']);
          if (rows.length === 2) break;
          await new Promise((resolve) => setTimeout(resolve, 500));
        }
        assert.deepEqual(asStrings(await currentRows(stack.h, def), ['name']), [{ name: 'ok' }, { name: 'fixed' }]);
      } finally {
        await schedule.delete();
      }
    });
  });
});
