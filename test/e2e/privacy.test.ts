import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import {
  createTable,
  currentRows,
  listUris,
  putChangeFile,
  STAGING_BUCKET,
  startWorker,
  tableFor,
  uniqueName,
} from '../../local/harness/harness';
import { modelDefinitionSchema } from '../../src/config/models';
import type { Project } from '../../src/config/project';
import type { TableDefinition } from '../../src/config/schema';
import { createActivityDeps } from '../../src/deps';
import type { IngestResult } from '../../src/shared';
import { startModels } from '../../src/starters/models';
import type { RunModelsResult } from '../../src/workflows/models';
import { asStrings } from '../support/reference';
import { useStackWithWorker } from '../support/suite';

/** Values no message may carry: a recognisable text, and a long number (an account, an amount). */
const MARKER = 'zq7marker';
const NUMBER_MARKER = '918273645546';

/** Everything a workflow's history holds, payloads decoded to text: inputs, results, failures, stack traces. */
async function historyText(client: Client, workflowId: string): Promise<string> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  return JSON.stringify(history, function (this: Record<string, unknown>, key, value: unknown) {
    const raw = this[key];
    return raw instanceof Uint8Array ? Buffer.from(raw).toString('utf8') : value;
  });
}

/** The ids of every workflow that ran on a task queue (children and the engine's quota included). */
async function workflowsOn(client: Client, taskQueue: string): Promise<string[]> {
  const ids: string[] = [];
  for await (const execution of client.workflow.list({ query: `TaskQueue = "${taskQueue}"` })) ids.push(execution.workflowId);
  return ids;
}

const failureOf = (err: unknown): string => {
  assert.ok(err instanceof WorkflowFailedError, String(err));
  return String((err.cause?.cause as Error | undefined)?.message ?? err.cause?.message);
};

describe('customer data and secrets stay out of history and logs; odd locations are quoted', function () {
  this.timeout(300_000);
  const stack = useStackWithWorker('privacy_tq');
  const started: string[] = [];

  const runBatch = (def: TableDefinition, taskQueue = stack.taskQueue): Promise<IngestResult> => {
    const workflowId = uniqueName(`ingest-${def.database}`);
    started.push(workflowId);
    return stack.h.client.workflow.execute('ingestBatch', { taskQueue, workflowId, args: [{ version: 1, table: def }] });
  };

  after(async () => {
    // The engine's quota workflows of these task queues would wait forever for workers that are gone.
    for (const taskQueue of [stack.taskQueue, secretQueue]) {
      for (const id of await workflowsOn(stack.h.client, taskQueue).catch(() => [])) {
        if (id.startsWith('icetide:quota:'))
          await stack.h.client.workflow
            .getHandle(id)
            .terminate('test over')
            .catch(() => undefined);
      }
    }
  });

  it('a staging location holding a quote: its table is created, a batch merged and its file cleaned up (Trino, MinIO)', async () => {
    const database = uniqueName('quote');
    const def = tableFor(database, { staging: { location: `s3://${STAGING_BUCKET}/${database}/it's/orders/` } });
    await createTable(stack.h, def);
    await putChangeFile(stack.h, def, '20261121-0001.csv', [
      { op: 'I', ts: '2026-11-21 10:00:01.000000', values: { tenant: "o'neil", id: 1, seq: 1, name: "it's", amount: '1.50' } },
    ]);
    const result = await runBatch(def);
    assert.equal(result.outcome, 'merged');
    assert.deepEqual(asStrings(await currentRows(stack.h, def), ['tenant', 'id', 'name', 'amount']), [
      { tenant: "o'neil", id: '1', name: "it's", amount: '1.50' },
    ]);
    assert.deepEqual(await listUris(stack.h, def.staging.location), []);
  });

  it('marker values fed through every failure path appear in no history, result, failure or alert; the problems stay named', async () => {
    const database = uniqueName('private');
    // 1. A bad CSV file fails its batch; 2. the same file in quarantine mode is moved aside.
    const badCsv = [
      `I,2026-11-21 10:00:01.000000,t,1,1,n,${MARKER}`,
      `${MARKER},2026-11-21 10:00:02.000000,t,2,2,n,1.00`,
      `I,${MARKER},t,3,3,n,1.00`,
      `I,2026-11-21 10:00:04.000000,t,4,${MARKER},n,${NUMBER_MARKER}.00`,
    ].join('\n');
    const failing = tableFor(database, { table: 'orders' });
    const quarantining = tableFor(database, {
      table: 'quarantined',
      staging: { location: `s3://${STAGING_BUCKET}/${database}/public/quarantined/` },
      badInput: 'quarantine',
    });
    // 3. Bad Debezium JSON: a line that is not JSON, an unknown op, a key that is not a number.
    const json = tableFor(database, {
      table: 'events',
      staging: { location: `s3://${STAGING_BUCKET}/${database}/public/events/`, format: 'debezium-json' },
      ordering: { commitTimestamp: 'commit_ts' },
    });
    for (const def of [failing, quarantining, json]) await createTable(stack.h, def);
    const badFile = await putChangeFile(stack.h, failing, '20261121-0001.csv', badCsv);
    await putChangeFile(stack.h, quarantining, '20261121-0001.csv', badCsv);
    await putChangeFile(
      stack.h,
      json,
      '20261121-0001.json',
      [
        `{"op":"c","${MARKER}`,
        JSON.stringify({ op: MARKER, after: { tenant: 't', id: 1 }, source: { ts_ms: 1 } }),
        JSON.stringify({ op: 'c', after: { tenant: 't', id: MARKER, name: 'n', amount: NUMBER_MARKER }, source: { ts_ms: 1 } }),
      ].join('\n'),
    );

    const csvFailure = await runBatch(failing).then(() => assert.fail('a bad row fails the batch'), failureOf);
    assert.match(csvFailure, new RegExp(`change file ${badFile} has bad rows`));
    assert.match(csvFailure, /line 1: column amount: not a decimal\(10,2\); line 2: Op is not I, U or D; line 3: commit timestamp is not/);
    assert.match(csvFailure, /line 4: column seq: not a bigint; line 4: column amount: value does not fit decimal\(10,2\)/);
    const quarantined = await runBatch(quarantining);
    assert.deepEqual(
      quarantined.quarantined.map((q) => `${q.line}: ${q.problem}`),
      ['1: column amount: not a decimal(10,2)'],
    );
    const jsonFailure = await runBatch(json).then(() => assert.fail('bad JSON fails the batch'), failureOf);
    assert.match(jsonFailure, /line 1: not JSON; line 2: unknown op \(expected c, r, u or d\); line 3: column id: not a bigint/);

    // 4. Engine errors quoting row values: a cast in a model's CTAS, a cast in a data test's query; 5. failed data
    // tests, reported to the alert webhook.
    await stack.h.trino.query(
      `CREATE TABLE iceberg."${database}".src AS SELECT '${MARKER}' AS name, CAST(${NUMBER_MARKER} AS bigint) AS n`,
    );
    const model = (name: string, sql: string, tests: unknown[] = []) =>
      modelDefinitionSchema.parse({ name, database, materialization: 'table', sql, tests, retries: 0 });
    const models = [
      model('cast_text', `SELECT CAST(name AS bigint) AS x FROM ${database}.src`),
      model('cast_decimal', `SELECT CAST(CAST(n AS varchar) AS decimal(10,2)) AS x FROM ${database}.src`),
      model('cast_in_test', `SELECT name FROM ${database}.src`, [{ sql: 'SELECT * FROM {{ this }} WHERE CAST(name AS bigint) > 0' }]),
      model('failed_tests', `SELECT name, n FROM ${database}.src`, [
        { accepted_values: { column: 'name', values: ['ok'] } },
        { sql: 'SELECT * FROM {{ this }} WHERE n > 0', name: 'positive' },
      ]),
    ];
    const alerts: string[] = [];
    const webhook: Server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        alerts.push(body);
        res.writeHead(200).end('ok');
      });
    });
    await new Promise<void>((resolve) => webhook.listen(0, '127.0.0.1', resolve));
    try {
      const project: Project = {
        file: 'test',
        settings: {
          version: 1,
          modelRuns: { parallelism: 4, alertWebhook: `http://127.0.0.1:${(webhook.address() as AddressInfo).port}/alert` },
        },
        runtime: { ...stack.h.config, ICETIDE_TASK_QUEUE: stack.taskQueue },
        tables: [],
        models,
      };
      const { handle } = await startModels(stack.h.client, project, []);
      const result = (await handle.result()) as RunModelsResult;
      const errors = Object.fromEntries(result.models.map((r) => [r.model.split('.')[1], r.error ?? '']));
      assert.equal(result.failed, 4);
      assert.match(errors.cast_text, /Cannot cast '…' to BIGINT/);
      assert.match(errors.cast_decimal, /Cannot cast VARCHAR '…' to DECIMAL\(10, 2\)/);
      assert.match(errors.cast_in_test, /Cannot cast '…' to BIGINT/);
      assert.match(errors.failed_tests, /audit failed, nothing published/);
      assert.deepEqual(errors.failed_tests.split(': ').slice(2).join(': ').split('; ').sort(), [
        'accepted_values(name): 1 failing row(s)',
        'positive: 1 failing row(s)',
      ]);
      assert.equal(alerts.length, 1);
      assert.match(alerts[0], /4 model\(s\) failed/);
    } finally {
      webhook.close();
    }

    const ids = await workflowsOn(stack.h.client, stack.taskQueue);
    for (const id of started) assert.ok(ids.includes(id), `${id} is listed`);
    assert.ok(ids.length >= started.length + 5, `the models run and its 4 children too: ${ids.length}`);
    for (const id of ids) {
      const text = await historyText(stack.h.client, id);
      for (const marker of [MARKER, NUMBER_MARKER]) assert.ok(!text.includes(marker), `${marker} in the history of ${id}`);
    }
    for (const alert of alerts) assert.ok(!alert.includes(MARKER) && !alert.includes(NUMBER_MARKER), alert);
  });

  const secret = 's3cr3t-Pa55';
  const secretQueue = uniqueName('privacy_secret_tq');

  it('a run failing on a Trino URL with credentials: the password is in no history, workflow id or log line', async () => {
    const url = new URL(stack.h.config.ICETIDE_TRINO_URL);
    url.username = 'icetide';
    url.password = secret;
    const config = { ...stack.h.config, ICETIDE_TRINO_URL: url.toString(), ICETIDE_TASK_QUEUE: secretQueue };
    // What the worker writes while the run fails: its log lines go to stdout and stderr.
    const written: string[] = [];
    const stdout = process.stdout.write.bind(process.stdout);
    const stderr = process.stderr.write.bind(process.stderr);
    const capture =
      (write: typeof stdout) =>
      (chunk: string | Uint8Array, ...rest: unknown[]): boolean => {
        written.push(String(chunk));
        return (write as (c: string | Uint8Array, ...r: unknown[]) => boolean)(chunk, ...rest);
      };
    process.stdout.write = capture(stdout) as typeof process.stdout.write;
    process.stderr.write = capture(stderr) as typeof process.stderr.write;
    const worker = await startWorker(stack.h, secretQueue, createActivityDeps(config));
    try {
      const def = tableFor(uniqueName('secret'));
      await createTable(stack.h, def);
      await putChangeFile(stack.h, def, '20261121-0001.csv', [
        { op: 'I', ts: '2026-11-21 10:00:01.000000', values: { tenant: 't', id: 1, seq: 1, name: 'n', amount: '1.00' } },
      ]);
      const failure = await runBatch(def, secretQueue).then(() => assert.fail('Trino refuses a password over HTTP'), failureOf);
      assert.match(failure, /accounting for the files of the batch: Trino answered 401 to POST http:\/\/127\.0\.0\.1:\d+\/v1\/statement/);
      // A batch now fails in planning, before it asks for a permit: a statement asks, naming the quota by its engine.
      await stack.h.client.workflow
        .execute('runStatement', {
          taskQueue: secretQueue,
          workflowId: uniqueName('secret-statement'),
          args: [{ sql: 'SELECT 1', label: 'secret' }],
        })
        .then(
          () => assert.fail('Trino refuses a password over HTTP'),
          () => undefined,
        );
    } finally {
      await worker.stop();
      process.stdout.write = stdout;
      process.stderr.write = stderr;
    }
    const ids = await workflowsOn(stack.h.client, secretQueue);
    assert.ok(
      ids.some((id) => id.startsWith(`icetide:quota:${secretQueue}:trino:http://127.0.0.1`)),
      `the quota workflow is named by the coordinator: ${ids.join(', ')}`,
    );
    for (const id of ids) {
      assert.ok(!id.includes(secret));
      assert.ok(!(await historyText(stack.h.client, id)).includes(secret), `the password in the history of ${id}`);
    }
    assert.ok(!written.join('').includes(secret), 'the password in a log line');
  });
});
