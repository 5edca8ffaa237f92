import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadProject } from '../../src/config/project';
import { loadRuntimeConfig } from '../../src/config/runtime';
import { workerSizing } from '../../src/config/worker-sizing';

const table = (name: string) => `
  - database: shop
    table: ${name}
    staging: { location: s3://staging/shop/${name}/ }
    columns: [{ name: id, type: bigint }]
    primaryKey: [id]
`;

async function projectFile(text: string): Promise<string> {
  const file = join(await mkdtemp(join(tmpdir(), 'icetide-sizing-')), 'icetide.yaml');
  await writeFile(file, text);
  return file;
}

describe('worker sizing', () => {
  it('grows the cache and the activity slots with the tables, within bounds, and keeps workflow tasks few', () => {
    const sized = (tables: number) => workerSizing(loadRuntimeConfig({ ICETIDE_WORKER_TABLES: String(tables) }));
    assert.deepEqual(sized(200), { tables: 200, cachedWorkflows: 110, activitySlots: 25, workflowTaskSlots: 10 });
    assert.deepEqual(sized(1), { tables: 1, cachedWorkflows: 20, activitySlots: 8, workflowTaskSlots: 10 });
    assert.deepEqual(sized(10_000), { tables: 10_000, cachedWorkflows: 1000, activitySlots: 100, workflowTaskSlots: 10 });
  });

  it('sizes a worker from the project: its tables, unless worker.tables says how many this worker serves; the environment wins', async () => {
    const two = await projectFile(`tables:${table('a')}${table('b')}`);
    assert.equal(workerSizing((await loadProject(two, {})).runtime).tables, 2);
    const shared = await projectFile(`worker: { tables: 300, activitySlots: 5 }\ntables:${table('a')}`);
    assert.deepEqual(workerSizing((await loadProject(shared, {})).runtime), {
      tables: 300,
      cachedWorkflows: 160,
      activitySlots: 5,
      workflowTaskSlots: 10,
    });
    const env = { ICETIDE_WORKER_ACTIVITY_SLOTS: '7', ICETIDE_WORKER_CACHED_WORKFLOWS: '4', ICETIDE_WORKER_WORKFLOW_TASK_SLOTS: '6' };
    assert.deepEqual(workerSizing((await loadProject(shared, env)).runtime), {
      tables: 300,
      cachedWorkflows: 4,
      activitySlots: 7,
      // Never more than the runs cached (the SDK would lower it with a warning).
      workflowTaskSlots: 4,
    });
  });

  it('refuses a size that is not a whole number in range, naming the setting', () => {
    assert.throws(() => loadRuntimeConfig({ ICETIDE_WORKER_ACTIVITY_SLOTS: '0' }), /ICETIDE_WORKER_ACTIVITY_SLOTS/);
    assert.throws(() => loadRuntimeConfig({ ICETIDE_WORKER_CACHED_WORKFLOWS: 'many' }), /ICETIDE_WORKER_CACHED_WORKFLOWS/);
  });
});
