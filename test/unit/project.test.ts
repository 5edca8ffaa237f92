import assert from 'node:assert/strict';
import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findTable, loadProject, ProjectError } from '../../src/config/project';
import { temporalTarget } from '../../src/config/temporal';
import { engineQuota } from '../../src/deps';

const TABLE = `
  - database: shop
    table: orders
    staging: { location: s3://staging/shop/orders/ }
    columns:
      - { name: id, type: bigint }
      - { name: status, type: string }
    primaryKey: [id]
`;

async function projectFile(text: string, files: Record<string, string> = {}): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'icetide-project-'));
  for (const [name, content] of Object.entries(files)) {
    await mkdir(join(dir, name, '..'), { recursive: true });
    await writeFile(join(dir, name), content);
  }
  await writeFile(join(dir, 'icetide.yaml'), text);
  return join(dir, 'icetide.yaml');
}

async function problemsOf(file: string): Promise<string[]> {
  const err = await loadProject(file, {}).then(
    () => assert.fail('the project loaded'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof ProjectError, String(err));
  return err.problems;
}

describe('project file (icetide.yaml)', () => {
  it('reads the engine, S3, Temporal and metrics settings into the runtime config, the environment winning', async () => {
    const file = await projectFile(
      `engine:\n  athena: { region: eu-west-1, workgroup: etl, outputLocation: s3://results/icetide/ }\n  maxConcurrentQueries: 15\n` +
        `temporal: { taskQueue: etl, namespace: prod }\nmetrics: { port: 9464 }\ntables:${TABLE}`,
    );
    const project = await loadProject(file, { ICETIDE_ATHENA_WORKGROUP: 'override' });
    assert.equal(project.runtime.ICETIDE_ENGINE, 'athena');
    assert.equal(project.runtime.ICETIDE_S3_REGION, 'eu-west-1');
    assert.equal(project.runtime.ICETIDE_ATHENA_OUTPUT, 's3://results/icetide/');
    assert.equal(project.runtime.ICETIDE_ATHENA_WORKGROUP, 'override');
    assert.equal(project.runtime.ICETIDE_TASK_QUEUE, 'etl');
    assert.equal(project.runtime.ICETIDE_METRICS_PORT, 9464);
    assert.deepEqual(engineQuota(project.runtime), { engine: 'athena:eu-west-1', limit: 15 });
    assert.equal(project.runtime.temporal.namespace, 'prod');
    assert.deepEqual(
      project.tables.map((t) => `${t.database}.${t.table}`),
      ['shop.orders'],
    );
  });

  it("refuses a table whose MERGE cannot hold even one change file within the engine's statement limit", async () => {
    const columns = Array.from({ length: 1500 }, (_, i) => `      - { name: c${i}_${'x'.repeat(150)}, type: string }`).join('\n');
    const file = await projectFile(
      `engine:\n  athena: { region: eu-west-1, workgroup: etl, outputLocation: s3://results/icetide/ }\n` +
        `tables:\n  - database: shop\n    table: wide\n    staging: { location: s3://staging/shop/wide/ }\n    columns:\n` +
        `      - { name: id, type: bigint }\n${columns}\n    primaryKey: [id]\n`,
    );
    const [problem] = await problemsOf(file);
    assert.match(
      problem,
      /icetide\.yaml:\d+: table shop\.wide: its MERGE of even one change file is longer than the athena statement limit of 262144 bytes/,
    );
  });

  it('applies defaults under each table, the table’s own keys winning, nested blocks merged key by key', async () => {
    const file = await projectFile(
      `defaults:\n  schedule: { every: 5m, lag: 3m }\n  badInput: quarantine\ntables:${TABLE}    schedule: { every: 30s }\n`,
    );
    const [orders] = (await loadProject(file, {})).tables;
    assert.deepEqual(orders.schedule, { every: '30s', lag: '3m' });
    assert.equal(orders.badInput, 'quarantine');
  });

  it('reads a folder of table files named by include, and refuses a table defined twice, naming both places', async () => {
    const books = `database: shop\ntable: books\nstaging: { location: s3://staging/shop/books/ }\ncolumns: [{ name: id, type: bigint }]\nprimaryKey: [id]\n`;
    const file = await projectFile(`tables:${TABLE}  - include: tables\n`, { 'tables/books.yaml': books, 'tables/notes.txt': 'ignored' });
    assert.deepEqual(
      (await loadProject(file, {})).tables.map((t) => t.table),
      ['orders', 'books'],
    );
    const twice = await projectFile(`tables:${TABLE}  - include: tables\n`, {
      'tables/orders.yaml': TABLE.replace('  - ', '').replace(/\n {4}/g, '\n'),
    });
    const [problem] = await problemsOf(twice);
    assert.match(problem, /tables\/orders\.yaml:\d+: table shop\.orders is already defined at .*icetide\.yaml:2$/);
  });

  it('reports every problem at once, each with the file, the line, the key path and words (no regular expressions)', async () => {
    const file = await projectFile(
      [
        'engine:',
        '  trino: { url: not-a-url }',
        'tables:',
        '  - database: Shop',
        '    table: orders',
        '    staging: { location: s3://staging/shop/orders }',
        '    columns:',
        '      - { name: id, type: biginteger }',
        '    primaryKey: [id]',
        '    partitioning: ["days(id)"]',
        '    schedul: { every: 1m }',
        '  - database: shop',
        '    table: books',
        '    columns: [{ name: id, type: bigint }]',
        '    primaryKey: [id]',
      ].join('\n'),
    );
    const problems = await problemsOf(file);
    const expected: [number, string, RegExp][] = [
      [2, 'engine.trino.url', /URL/i],
      [4, 'tables[0].database', /lower-case letters/],
      [6, 'tables[0].staging.location', /ending with \//],
      [8, 'tables[0].columns[0].type', /one of bigint/],
      [10, 'tables[0].partitioning[0]', /bucket\(column, n\)/],
      [4, 'tables[0]', /unknown key schedul/],
      [12, 'tables[1].staging', /required/],
    ];
    for (const [line, path, words] of expected) {
      const found = problems.find((p) => p.includes(`icetide.yaml:${line}: ${path}:`));
      assert.ok(found, `no problem for ${path} at line ${line} in:\n${problems.join('\n')}`);
      assert.match(found, words);
    }
    for (const problem of problems) assert.doesNotMatch(problem, /\/\^|\$\//, `a raw regular expression: ${problem}`);
  });

  it('reads encryption keys (a key file relative to the project file) and names each bad key by line', async () => {
    const arn = 'arn:aws:kms:eu-west-1:123456789012:alias/icetide';
    const good = await projectFile(
      `encryption:\n  keys:\n    - { id: k2, kms: '${arn}' }\n    - { id: k1, file: keys/k1 }\n    - { id: k0, env: ICETIDE_KEY_0 }\ntables:${TABLE}`,
    );
    assert.deepEqual((await loadProject(good, {})).runtime.encryption, {
      keys: [
        { id: 'k2', kms: arn },
        { id: 'k1', file: join(good, '..', 'keys/k1') },
        { id: 'k0', env: 'ICETIDE_KEY_0' },
      ],
    });
    const problems = await problemsOf(
      await projectFile(
        [
          'encryption:',
          '  keys:',
          '    - { id: a, env: KEY, file: /k }',
          '    - { id: a, kms: alias/icetide }',
          '    - { id: "with space", env: 1KEY }',
          '    - { id: b, env: KEY, secret: x }',
        ].join('\n'),
      ),
    );
    const expected: [number, string, RegExp][] = [
      [3, 'encryption.keys[0]', /name one source of the key: env, file or kms/],
      [4, 'encryption.keys[1].kms', /a KMS key ARN/],
      [4, 'encryption.keys[1].id', /key id a is used twice/],
      [5, 'encryption.keys[2].id', /letters, digits/],
      [5, 'encryption.keys[2].env', /the name of an environment variable/],
      [6, 'encryption.keys[3]', /unknown key secret/],
    ];
    for (const [line, path, words] of expected) {
      const found = problems.find((p) => p.includes(`icetide.yaml:${line}: ${path}:`));
      assert.ok(found, `no problem for ${path} at line ${line} in:\n${problems.join('\n')}`);
      assert.match(found, words);
    }
    assert.match((await problemsOf(await projectFile('encryption: { keys: [] }')))[0], /encryption\.keys: at least one key/);
  });

  it('names a YAML syntax error with its line', async () => {
    const [problem] = await problemsOf(await projectFile('tables:\n  - database: shop\n    table: [orders\n'));
    assert.match(problem, /icetide\.yaml:\d+: /);
  });

  it('loads the example project (examples/icetide.yaml and its folder of tables)', async () => {
    const project = await loadProject(join(__dirname, '../../examples/icetide.yaml'), {});
    assert.deepEqual(
      project.tables.map((t) => `${t.database}.${t.table}:${t.badInput}`),
      ['shop.orders:quarantine'],
    );
    assert.equal(project.runtime.ICETIDE_METRICS_PORT, 9464);
  });

  it('finds a table by database.table, or by table when that is unambiguous', async () => {
    const project = await loadProject(await projectFile(`tables:${TABLE}`), {});
    assert.equal(findTable(project, 'shop.orders').table, 'orders');
    assert.equal(findTable(project, 'orders').table, 'orders');
    assert.throws(() => findTable(project, 'books'), /no table books in .*icetide\.yaml \(tables: shop\.orders\)/);
  });
});

describe('Temporal connection (envconfig)', () => {
  it('takes TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE and TEMPORAL_API_KEY from the environment over the project file', () => {
    const target = temporalTarget(
      { address: 'file:7233', namespace: 'file-ns' },
      {
        TEMPORAL_ADDRESS: 'acme.a1b2c.tmprl.cloud:7233',
        TEMPORAL_NAMESPACE: 'acme.a1b2c',
        TEMPORAL_API_KEY: 'secret',
        TEMPORAL_CONFIG_FILE: '/nonexistent',
      },
    );
    assert.equal(target.connectionOptions.address, 'acme.a1b2c.tmprl.cloud:7233');
    assert.equal(target.namespace, 'acme.a1b2c');
    assert.equal(target.connectionOptions.apiKey, 'secret');
    assert.equal(target.connectionOptions.tls, true, 'an API key turns TLS on');
  });

  it('falls back to the project file, then to the local dev server', () => {
    const env = { TEMPORAL_CONFIG_FILE: '/nonexistent' };
    assert.equal(temporalTarget({ address: 'temporal.internal:7233' }, env).connectionOptions.address, 'temporal.internal:7233');
    assert.deepEqual(
      { address: temporalTarget({}, env).connectionOptions.address, namespace: temporalTarget({}, env).namespace },
      { address: '127.0.0.1:7233', namespace: 'default' },
    );
  });
});
