import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { stringify } from 'yaml';
import { projectDataConverter } from '../codec/converter';
import { renderDmsCsv, type ChangeEvent } from '../changes/producers';
import { loadProject, type Project } from '../config/project';
import type { TableDefinition } from '../config/schema';
import { createS3Client } from '../deps';
import { TrinoEngine } from '../engines/trino';
import { parseS3Uri, StagingStore } from '../storage/staging';
import { ingestScheduleId, maintainScheduleId, tableName } from '../shared';
import { createWorker } from '../worker';
import { applyPlan, describePlan, planProject } from './plan';
import { describeStatus, tableStatus, type TableStatus } from './status';

/**
 * `npm run demo [-- --seconds N] [-- --keep]`: a pipeline living on the local stack. It writes a project file with two
 * tables — `books`, small and often updated, synced every 5 s, and `orders`, large and append-mostly, every 15 s —
 * applies it, runs a worker, and lets a simulated DMS task land change files (inserts, updates, deletes, late files,
 * duplicate files) while a status table refreshes. Then it drains staging and proves each table equals the
 * producer's truth with a Trino query. Without --keep it removes its schedules (the stack is stopped by the npm
 * script if the demo started it).
 */
const args = process.argv.slice(2);
const seconds = Number(args[args.indexOf('--seconds') + 1]) || 90;
const keep = args.includes('--keep');

const DEMO_DIR = path.resolve('.icetide-demo');
const PROJECT_FILE = path.join(DEMO_DIR, 'icetide.yaml');

function writeDemoProject(): void {
  mkdirSync(DEMO_DIR, { recursive: true });
  const table = (name: string, every: string, columns: [string, string][]) => ({
    database: 'demo',
    table: name,
    staging: { location: `s3://icetide-staging/demo/dms/public/${name}/` },
    columns: [...columns.map(([n, type]) => ({ name: n, type })), { name: 'seq', type: 'bigint' }],
    primaryKey: ['id'],
    ordering: { commitTimestamp: 'commit_ts', sequence: 'seq' },
    partitioning: ['bucket(id, 4)'],
    schedule: { every, lag: '0s' },
  });
  const project = {
    temporal: { taskQueue: 'icetide-demo' },
    defaults: { maintenance: { retain: { snapshots: '0s', orphans: '1h' } } },
    tables: [
      table('books', '5s', [
        ['id', 'bigint'],
        ['title', 'string'],
        ['copies', 'bigint'],
      ]),
      table('orders', '15s', [
        ['id', 'bigint'],
        ['customer', 'string'],
        ['cents', 'bigint'],
        ['status', 'string'],
      ]),
    ],
  };
  writeFileSync(PROJECT_FILE, `# written by npm run demo\n${stringify(project)}`);
}

/** A simulated DMS task: change files for both tables, and the truth they add up to (newest change per key wins). */
class Producer {
  private seq = 0;
  private nextOrder = 1;
  private files = 0;
  readonly truth = new Map<string, Map<number, { seq: number; deleted: boolean; values: ChangeEvent['values'] }>>([
    ['books', new Map()],
    ['orders', new Map()],
  ]);
  readonly counts = { files: 0, changes: 0, late: 0, duplicates: 0 };
  private lateFile?: { def: TableDefinition; events: ChangeEvent[] };

  constructor(
    private readonly s3: ReturnType<typeof createS3Client>,
    private readonly tables: Record<'books' | 'orders', TableDefinition>,
  ) {}

  private event(table: 'books' | 'orders', op: ChangeEvent['op'], values: ChangeEvent['values']): ChangeEvent {
    const seq = ++this.seq;
    const key = values.id as number;
    const known = this.truth.get(table)!;
    if ((known.get(key)?.seq ?? 0) < seq) known.set(key, { seq, deleted: op === 'D', values });
    const ts = new Date().toISOString().replace('T', ' ').replace('Z', '000');
    return { op, ts, values: { ...values, seq } };
  }

  /** One tick: a books file (updates, deletes, inserts on 30 ids) and an orders file (new orders, a few updates). */
  async tick(): Promise<void> {
    const books: ChangeEvent[] = [];
    for (let i = 0; i < 5; i++) {
      const id = 1 + Math.floor(Math.random() * 30);
      const live = this.truth.get('books')!.get(id);
      const op = !live || live.deleted ? 'I' : Math.random() < 0.2 ? 'D' : 'U';
      books.push(this.event('books', op, { id, title: `book ${id}`, copies: Math.floor(Math.random() * 100) }));
    }
    const orders: ChangeEvent[] = [];
    for (let i = 0; i < 40; i++) {
      const id = this.nextOrder++;
      orders.push(this.event('orders', 'I', { id, customer: `c${id % 17}`, cents: 100 + (id % 900), status: 'new' }));
    }
    for (let i = 0; i < 3 && this.nextOrder > 10; i++) {
      const id = 1 + Math.floor(Math.random() * (this.nextOrder - 1));
      const prior = this.truth.get('orders')!.get(id)!.values;
      orders.push(this.event('orders', 'U', { ...prior, status: 'shipped' }));
    }
    await this.land(this.tables.books, books);
    await this.land(this.tables.orders, orders);
    // A file DMS lands late: written now, delivered one tick later, after newer changes to the same keys.
    if (this.lateFile) {
      await this.land(this.lateFile.def, this.lateFile.events);
      this.counts.late++;
      this.lateFile = undefined;
    } else if (Math.random() < 0.3) {
      const id = 1 + Math.floor(Math.random() * 30);
      this.lateFile = { def: this.tables.books, events: [this.event('books', 'U', { id, title: `book ${id} (late)`, copies: 0 })] };
    }
    // A file delivered twice (a retried upload): the version guard applies it once.
    if (Math.random() < 0.2) {
      await this.land(this.tables.orders, orders);
      this.counts.duplicates++;
    }
  }

  private async land(def: TableDefinition, events: ChangeEvent[]): Promise<void> {
    const { bucket, key } = parseS3Uri(def.staging.location);
    const name = `${new Date().toISOString().replace(/[-:.TZ]/g, '')}-${String(++this.files).padStart(5, '0')}.csv`;
    await this.s3.send(new PutObjectCommand({ Bucket: bucket, Key: `${key}${name}`, Body: renderDmsCsv(def, events) }));
    this.counts.files++;
    this.counts.changes += events.length;
  }

  /** The live rows of a table as `id|col|...` lines, in key order. */
  expected(table: 'books' | 'orders', columns: string[]): string[] {
    return [...this.truth.get(table)!.entries()]
      .filter(([, row]) => !row.deleted)
      .sort(([a], [b]) => a - b)
      .map(([, row]) => columns.map((c) => String(row.values[c])).join('|'));
  }
}

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('WARN') }); // the demo's own lines, not the worker's chatter
  writeDemoProject();
  const project: Project = await loadProject(PROJECT_FILE);
  const { runtime } = project;
  const [books, orders] = project.tables;
  const s3 = createS3Client(runtime);
  const staging = new StagingStore(s3);
  const trino = new TrinoEngine({ url: runtime.ICETIDE_TRINO_URL, user: runtime.ICETIDE_TRINO_USER });
  await s3.send(new CreateBucketCommand({ Bucket: 'icetide-staging' })).catch((err: Error) => {
    if (err.name !== 'BucketAlreadyOwnedByYou') throw err;
  });
  // Start from empty tables and staging so the demo can run again and again.
  for (const def of project.tables) {
    await trino.query(`DROP VIEW IF EXISTS iceberg.demo.${def.table}_current`).catch(() => undefined);
    await trino.query(`DROP TABLE IF EXISTS iceberg.demo.${def.table}`).catch(() => undefined);
    await staging.delete((await staging.list(def.staging.location)).map((f) => f.uri));
  }

  const worker = await createWorker(runtime);
  const running = worker.run();
  const connection = await Connection.connect(runtime.temporal.connectionOptions);
  const client = new Client({ connection, namespace: runtime.temporal.namespace, dataConverter: projectDataConverter(runtime.encryption) });
  let stopping = false;
  process.once('SIGINT', () => (stopping = true));
  try {
    console.log(`project file ${path.relative(process.cwd(), PROJECT_FILE)}; icetide apply:`);
    const plan = await planProject(client, project);
    for (const line of describePlan(plan).filter((l) => !l.startsWith('    '))) console.log(`  ${line}`);
    await applyPlan(client, project, plan, () => undefined);

    const producer = new Producer(s3, { books, orders });
    const started = Date.now();
    const statuses = () => Promise.all(project.tables.map((def) => tableStatus(client, staging, project, def)));
    let lines = 0;
    const show = async (title: string) => {
      const text = [title, ...(await statuses()).map((s) => `  ${describeStatus(s)}`)];
      if (process.stdout.isTTY && lines) process.stdout.write(`\x1b[${lines}A\x1b[0J`);
      console.log(text.join('\n'));
      lines = process.stdout.isTTY ? text.length : 0;
    };
    console.log(`\nproducing change files for ${seconds}s (Ctrl-C to stop early); batches run on their schedules:`);
    while (!stopping && Date.now() - started < seconds * 1000) {
      await producer.tick();
      await delay(2000);
      const c = producer.counts;
      await show(
        `${Math.round((Date.now() - started) / 1000)}s: ${c.files} file(s), ${c.changes} change(s) landed (${c.late} late, ${c.duplicates} duplicate)`,
      );
    }

    console.log('\nproducer stopped; draining staging...');
    const drained = (all: TableStatus[]) => all.every((s) => s.waiting.files === 0 && !s.running);
    for (let i = 0; i < 60 && !drained(await statuses()); i++) await delay(2000);
    await delay(1000);
    await show('final status:');

    console.log('\ncompared with the producer’s truth (Trino, the _current views):');
    let allEqual = true;
    for (const [table, columns] of [
      ['books', ['id', 'title', 'copies']],
      ['orders', ['id', 'customer', 'cents', 'status']],
    ] as const) {
      const rows = await trino.query(`SELECT ${columns.join(', ')} FROM iceberg.demo.${table}_current ORDER BY id`);
      const actual = rows.map((r) => columns.map((c) => String(r[c])).join('|'));
      const expected = producer.expected(table, [...columns]);
      const equal = JSON.stringify(actual) === JSON.stringify(expected);
      allEqual &&= equal;
      console.log(
        `  demo.${table}: ${actual.length} row(s) ${equal ? 'equal the producer’s truth' : `DIFFER from the producer’s ${expected.length}`}`,
      );
    }
    const query = encodeURIComponent(`IcetideTable IN (${project.tables.map((def) => `"${tableName(def)}"`).join(', ')})`);
    console.log(
      `\nevery run is in the Temporal UI: ${runtime.ICETIDE_TEMPORAL_UI}/namespaces/${runtime.temporal.namespace}/workflows?query=${query}`,
    );
    console.log(
      `afterwards (the dev server keeps history; \`bash local/stack.sh up\` if the demo stopped it): ` +
        `npx icetide -c ${path.relative(process.cwd(), PROJECT_FILE)} status`,
    );
    if (!allEqual) process.exitCode = 1;
  } finally {
    if (!keep) {
      for (const def of project.tables) {
        for (const id of [ingestScheduleId(def), maintainScheduleId(def)])
          await client.schedule
            .getHandle(id)
            .delete()
            .catch(() => undefined);
      }
      console.log(
        `schedules of ${project.tables.map(tableName).join(' and ')} removed (tables kept); --keep leaves them and the stack running`,
      );
    }
    worker.shutdown();
    await running;
    await connection.close();
  }
}

main().catch((err) => {
  console.error(`demo: ${(err as Error).message}`);
  process.exit(1);
});
