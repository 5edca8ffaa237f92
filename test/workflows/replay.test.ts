import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';

/**
 * Runs in flight when a worker is upgraded go on under the new code, which must make the same decisions for what
 * they already recorded. The fixtures are model runs (a `table` model built twice, an incremental model, SCD2 and
 * the DAG around them) recorded by icetide 0.1.0 at eabef34, before a model took fewer steps, and ingest batches
 * (merged and idle, with and without query permits) recorded at 7d3d6de, before a MERGE took one activity.
 */
describe('replaying runs recorded by earlier versions', function () {
  this.timeout(120_000);

  it('replays every recorded run on this code without a nondeterminism error', async () => {
    const dir = path.join(__dirname, '../fixtures/histories');
    // Binary protobuf, as fetched from the server (the JSON form needs proto-utils, which a second protobufjs breaks).
    const workflowIds = JSON.parse(readFileSync(path.join(dir, 'workflow-ids.json'), 'utf8')) as Record<string, string>;
    const files = readdirSync(dir).filter((file) => file.endsWith('.binpb'));
    assert.equal(files.length, Object.keys(workflowIds).length, 'every recorded history has its workflow id');
    const histories = files.map((file) => ({
      workflowId: workflowIds[file],
      history: temporal.api.history.v1.History.decode(readFileSync(path.join(dir, file))),
    }));
    const failures: string[] = [];
    for await (const result of Worker.runReplayHistories({ workflowsPath: require.resolve('../../src/workflows') }, histories)) {
      if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
    }
    assert.deepEqual(failures, []);
  });
});
