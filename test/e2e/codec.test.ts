import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { ApplicationFailure } from '@temporalio/activity';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { chromium, type Browser } from 'playwright-core';
import { installTestRuntime, tableFor, uniqueName } from '../../local/harness/harness';
import { exportStackEnv, repoRoot } from '../../local/harness/stack';
import { encryptionCodec } from '../../src/codec/codec';
import { loadProject, type Project } from '../../src/config/project';
import { createActivityDeps } from '../../src/deps';
import { withClient } from '../../src/starters/context';
import { TABLE_SEARCH_ATTRIBUTE } from '../../src/shared';
import { workerOptions } from '../../src/worker';
import { exited } from '../support/suite';

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer().once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });

/** Every string and every byte string of a history (bytes read as text), as one text to search. */
function readable(value: unknown): string {
  if (value instanceof Uint8Array) return Buffer.from(value).toString('latin1');
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.map(readable).join('\n');
  if (value && typeof value === 'object') return Object.values(value).map(readable).join('\n');
  return '';
}

/** Waits for a child's output to match `pattern`; its exit first fails with what it printed. */
function outputOf(child: ChildProcess, pattern: RegExp, timeoutMs: number): Promise<string> {
  let seen = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${pattern} within ${timeoutMs} ms:\n${seen}`)), timeoutMs);
    const look = (chunk: Buffer) => {
      seen += chunk.toString();
      if (pattern.test(seen)) {
        clearTimeout(timer);
        resolve(seen);
      }
    };
    child.stdout?.on('data', look);
    child.stderr?.on('data', look);
    child.once('exit', (code) => reject(new Error(`exited ${code} before ${pattern}:\n${seen}`)));
  });
}

/**
 * Payload encryption end to end, on a Temporal dev server of the test's own (the shared stack's keeps running as it
 * is) whose Web UI decodes through `icetide codec-server`: a worker of the project writes ciphertext into history
 * (input, failure), the CLI's client reads it back in clear, a client without the codec reads no marker, and
 * headless Chromium shows the marker on the run's page in the UI.
 */
describe('payload encryption and the codec server (own dev server, headless Chromium)', function () {
  this.timeout(180_000);
  const marker = `mk_${randomBytes(5).toString('hex')}`;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'icetide-codec-'));
  // The key in this process's environment too: the in-process worker and the CLI's client read it there.
  process.env.ICETIDE_E2E_KEY = randomBytes(32).toString('base64');
  const env = process.env;
  const children: ChildProcess[] = [];
  let project: Project;
  let ui: string;
  let codecUrl: string;
  let browser: Browser | undefined;
  let temporalBin: string;

  before(async () => {
    exportStackEnv(); // only for the cached temporal binary: ICETIDE_TEMPORAL_BIN
    installTestRuntime();
    const chromiumPath = execFileSync('bash', [path.join(repoRoot, 'local/chromium.sh')], { encoding: 'utf8' }).trim();
    const [port, uiPort, httpPort, metricsPort, codecPort] = await Promise.all(Array.from({ length: 5 }, freePort));
    ui = `http://127.0.0.1:${uiPort}`;
    codecUrl = `http://127.0.0.1:${codecPort}`;
    const file = path.join(dir, 'icetide.yaml');
    writeFileSync(
      file,
      `temporal: { address: '127.0.0.1:${port}', ui: '${ui}', taskQueue: codec_tq }\n` +
        `encryption:\n  keys:\n    - { id: e2e-2026, env: ICETIDE_E2E_KEY }\n`,
    );
    project = await loadProject(file, { ...env, TEMPORAL_ADDRESS: undefined, TEMPORAL_NAMESPACE: undefined });

    // The CLI as users run it (compiled: `--build`), allowing this UI's origin (CORS: another origin's page is refused).
    const codec = spawn(
      process.execPath,
      [path.join(repoRoot, 'bin/icetide.js'), '-c', file, 'codec-server', '--port', String(codecPort), '--ui-origin', ui],
      {
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    children.push(codec);
    await outputOf(codec, new RegExp(`codec server on ${codecUrl} for ${ui}`), 30_000);

    temporalBin = process.env.ICETIDE_TEMPORAL_BIN ?? '';
    assert.ok(temporalBin, 'ICETIDE_TEMPORAL_BIN (local/stack.sh env) names the cached temporal CLI');
    // In memory, on free ports; the UI asks the codec server to decode.
    const server = spawn(
      temporalBin,
      [
        ...['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port), '--ui-port', String(uiPort)],
        ...['--http-port', String(httpPort), '--metrics-port', String(metricsPort), '--log-level', 'warn'],
        ...['--ui-codec-endpoint', codecUrl, '--search-attribute', 'IcetideTable=Keyword', '--search-attribute', 'IcetideOutcome=Keyword'],
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], detached: true },
    );
    children.push(server);
    for (let tries = 0; ; tries++) {
      const connection = await Connection.connect({ address: `127.0.0.1:${port}` }).catch(() => undefined);
      const ok = await connection?.healthService
        .check({})
        .then(() => true)
        .catch(() => false);
      await connection?.close();
      if (ok) break;
      if (tries > 60) throw new Error('the dev server did not come up in 30 s');
      await delay(500);
    }
    browser = await chromium.launch({ executablePath: chromiumPath });
  });

  after(async () => {
    await browser?.close();
    for (const child of children.reverse()) {
      if (child.exitCode !== null) continue;
      // The dev server runs in its own process group (the UI server is its child).
      if (child.spawnfile.endsWith('temporal') && child.pid) process.kill(-child.pid, 'SIGTERM');
      else child.kill('SIGTERM');
      await exited(child);
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('history holds ciphertext (input and failure), the CLI reads it in clear, the UI shows it through the codec server', async () => {
    // The marker in the run's input (a staging location) and in its failure (an activity's error): payloads only.
    const def = tableFor('codec_db', { staging: { location: `s3://icetide-staging/codec_db/${marker}/` } });
    const workflowId = uniqueName('codec');
    const { runtime } = project;
    const connection = await NativeConnection.connect(runtime.temporal.connectionOptions);
    // The worker of the project (its encrypted workflow bundle and data converter), its first step refused at once.
    const worker = await Worker.create({
      ...workerOptions(runtime, createActivityDeps(runtime), connection),
      activities: {
        requestQueryPermit: async () => null,
        planBatch: async () => {
          throw ApplicationFailure.nonRetryable(`access denied to ${marker}`, 'StepRefused');
        },
      },
    });
    const { err: failure, runId } = await worker.runUntil(
      withClient(project, async (client) => {
        const handle = await client.workflow.start('ingestBatch', {
          taskQueue: runtime.ICETIDE_TASK_QUEUE,
          workflowId,
          args: [{ version: 1, table: def }],
          typedSearchAttributes: [{ key: TABLE_SEARCH_ATTRIBUTE, value: 'codec_db.orders' }],
        });
        return handle.result().then(
          () => assert.fail('the run succeeded'),
          (err: unknown) => ({ err, runId: handle.firstExecutionRunId }),
        );
      }),
    );
    await connection.close();

    // The CLI's client (starters/context.ts) decrypts: the failure reads as the worker wrote it.
    assert.ok(failure instanceof WorkflowFailedError);
    assert.match(String(failure.cause?.message), new RegExp(`codec_db\\.orders.*access denied to ${marker}`, 's'));

    // Without the codec: the marker is nowhere in history, the failure says only Encoded failure.
    const plain = await Connection.connect(runtime.temporal.connectionOptions);
    const history = await new Client({ connection: plain }).workflow.getHandle(workflowId).fetchHistory();
    await plain.close();
    assert.ok(!readable(history).includes(marker), 'the marker is not readable in history without the key');
    const failed = history.events?.find((e) => e.workflowExecutionFailedEventAttributes);
    assert.equal(failed?.workflowExecutionFailedEventAttributes?.failure?.message, 'Encoded failure');
    const [input] = history.events?.[0].workflowExecutionStartedEventAttributes?.input?.payloads ?? [];
    assert.equal(Buffer.from(input.metadata?.['encryption-key-id'] ?? []).toString(), 'e2e-2026');
    // The reference the search above would have failed against: the same history, decoded with the key.
    const [decoded] = await encryptionCodec({ keys: [{ id: 'e2e-2026', env: 'ICETIDE_E2E_KEY' }] }, env).decode([input]);
    assert.ok(readable(decoded).includes(marker));

    // The temporal CLI decodes through the codec server too (`--codec-endpoint`); without it, ciphertext.
    const inputShown = (...extra: string[]) => {
      const args = [
        'workflow',
        'show',
        '--workflow-id',
        workflowId,
        '--address',
        runtime.temporal.connectionOptions.address ?? '',
        '-o',
        'json',
      ];
      const shown = JSON.parse(execFileSync(temporalBin, [...args, ...extra], { encoding: 'utf8' })) as {
        events: { workflowExecutionStartedEventAttributes?: { input: { payloads: { data: string }[] } } }[];
      };
      return Buffer.from(shown.events[0].workflowExecutionStartedEventAttributes?.input.payloads[0].data ?? '', 'base64').toString(
        'latin1',
      );
    };
    assert.ok(inputShown('--codec-endpoint', codecUrl).includes(marker), 'temporal workflow show --codec-endpoint reads the marker');
    assert.ok(!inputShown().includes(marker));

    // The UI (its browser code calls the codec server, across origins) shows the input in clear.
    assert.ok(browser);
    const page = await browser.newPage();
    const decodes: number[] = [];
    page.on('response', (response) => {
      if (response.url().startsWith(`${codecUrl}/decode`)) decodes.push(response.status());
    });
    try {
      await page.goto(`${ui}/namespaces/default/workflows/${workflowId}/${runId}/history`);
      await page.getByText(marker).first().waitFor({ timeout: 30_000 });
    } catch (err) {
      await page.screenshot({ path: path.join(os.tmpdir(), `codec-ui-${marker}.png`), fullPage: true });
      throw err;
    }
    if (process.env.ICETIDE_CODEC_SCREENSHOT) await page.screenshot({ path: process.env.ICETIDE_CODEC_SCREENSHOT });
    assert.ok(decodes.length > 0 && decodes.every((status) => status === 200), `the UI decoded through the codec server: ${decodes}`);
  });
});
