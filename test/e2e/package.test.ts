import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { WORKFLOW_BUNDLE_KINDS } from '../../build/workflow-bundles';
import { currentRows, openHarness, putChangeFile, tableFor, uniqueName, type Harness } from '../../local/harness/harness';
import { repoRoot } from '../../local/harness/stack';
import { ingestScheduleId, maintainScheduleId, tableName } from '../../src/shared';
import { workflowBundlePath } from '../../src/workflow-bundle';
import { exited, runCommand } from '../support/suite';

const run = promisify(execFile);

/**
 * icetide as a user gets it: `npm pack`, installed into an empty folder with its runtime dependencies only, and run as
 * `npx icetide` (compiled JavaScript, the prebuilt workflow bundle) against the stack.
 */
describe('the packed icetide package, installed into an empty folder', function () {
  this.timeout(600_000);
  let h: Harness;
  let worker: ChildProcess | undefined;
  const app = mkdtempSync(path.join(os.tmpdir(), 'icetide-package-'));
  const database = uniqueName('pkg');
  const orders = tableFor(database);
  const taskQueue = uniqueName('pkg_tq');
  let packed: string[] = [];

  const icetide = (...args: string[]) => runCommand('npx', ['icetide', ...args], { cwd: app });

  before(async () => {
    h = await openHarness();
    // prepack builds dist/ (tsc and the workflow bundles) first, as it does for anyone who packs.
    const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', app], { cwd: repoRoot, maxBuffer: 1 << 24 });
    const [{ filename, files }] = JSON.parse(stdout.slice(stdout.indexOf('['))) as [{ filename: string; files: { path: string }[] }];
    packed = files.map((f) => f.path);
    writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'icetide-user', private: true }));
    await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', `./${filename}`], { cwd: app });
    writeFileSync(path.join(app, 'icetide.yaml'), `temporal: { taskQueue: ${taskQueue} }\n` + stringify({ tables: [{ ...orders }] }));
  });

  after(async () => {
    for (const id of [ingestScheduleId(orders), maintainScheduleId(orders)])
      await h.client.schedule
        .getHandle(id)
        .delete()
        .catch(() => undefined);
    if (worker && worker.exitCode === null) {
      worker.kill('SIGTERM');
      await exited(worker);
    }
    await h?.close();
    rmSync(app, { recursive: true, force: true }); // ~300 MB of node_modules
  });

  it('holds compiled code, the workflow bundles, the README and examples; no sources, tests or local stack', () => {
    for (const file of [
      'bin/icetide.js',
      'dist/starters/cli.js',
      ...WORKFLOW_BUNDLE_KINDS.map((kind) => path.relative(repoRoot, workflowBundlePath(kind))),
    ])
      assert.ok(packed.includes(file), `${file} is in the package`);
    assert.ok(packed.includes('README.md') && packed.includes('examples/icetide.yaml'));
    assert.deepEqual(
      packed.filter((file) => /^(src|test|local|bench|build)\/|\.ts$/.test(file)),
      [],
    );
    // The demo drives the local stack, which does not ship; neither do its change-file producers (a devDependency).
    assert.ok(!packed.some((file) => /demo|producers/.test(file)));
  });

  it('installs only runtime dependencies', () => {
    const installed = readdirSync(path.join(app, 'node_modules'));
    for (const devOnly of ['tsx', 'mocha', 'typescript', 'hyparquet-writer', 'eslint']) assert.ok(!installed.includes(devOnly), devOnly);
    assert.ok(existsSync(path.join(app, 'node_modules/@temporalio/worker')));
  });

  it('runs --help, plan (saying how to start a worker when none polls), worker, plan, apply, run and status', async () => {
    const help = await icetide('--help');
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /^Usage: icetide/);

    const refused = await icetide('plan');
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, new RegExp(`^icetide: no worker polls task queue ${taskQueue}.*start it .* \`npx icetide worker\`.*\n$`));

    // The bin npx runs, started directly so that SIGTERM reaches the worker itself.
    worker = spawn(process.execPath, [path.join(app, 'node_modules/.bin/icetide'), 'worker'], {
      cwd: app,
      env: process.env,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve, reject) => {
      let log = '';
      worker!.stdout!.on('data', (chunk: Buffer) => {
        log += chunk.toString();
        if (log.includes('Worker state changed') && log.includes('RUNNING')) resolve();
      });
      worker!.once('exit', (code) => reject(new Error(`the worker exited (${code}): ${log}`)));
    });

    const plan = await icetide('plan');
    assert.equal(plan.code, 0, plan.stderr);
    assert.match(plan.stdout, new RegExp(`\\+ create table ${tableName(orders)}:`));
    const apply = await icetide('apply');
    assert.equal(apply.code, 0, apply.stderr);
    assert.match(apply.stdout, /applied 3 change\(s\)/);

    await putChangeFile(h, orders, 'f1.csv', [
      { op: 'I', ts: '2026-11-21 12:00:01.000000', values: { tenant: 't', id: 1, seq: 1, name: 'a', amount: '1.00' } },
    ]);
    const batch = await icetide('run', 'orders');
    assert.equal(batch.code, 0, batch.stderr);
    assert.match(batch.stdout, /merged 1 change\(s\) from 1 file\(s\)/);
    assert.deepEqual(
      (await currentRows(h, orders)).map((r) => [r.id, r.name]),
      [[1, 'a']],
    );

    const status = await icetide('status');
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /applied through 2026-11-21 12:00:01\.000000/);
    assert.doesNotMatch(status.stderr, /NodeVersionSupportWarning/, 'the AWS SDK has nothing to say about a supported Node');
  });
});
