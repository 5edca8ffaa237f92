import assert from 'node:assert/strict';
import { ApplicationFailure } from '@temporalio/common';
import type { Activities } from '../../src/activities';
import type { ModelStatementInput } from '../../src/activities/models';
import { modelDefinitionSchema } from '../../src/config/models';
import { FAILURES_COLUMN } from '../../src/sql/data-tests';
import { modelBuildId, modelName } from '../../src/shared';
import type { BuildModelInput } from '../../src/workflows/build-model';
import type { ModelReport } from '../../src/workflows/model-report';
import type { RunModelsInput, RunModelsResult } from '../../src/workflows/models';
import { uniqueName } from '../../local/harness/harness';
import { runWithFakes, useWorkflowEnvironment } from '../support/decisions';

/**
 * buildModel's decisions with scripted activities on the real dev server: a long incremental range continues as new
 * in segments, and across them every period is replaced exactly once and the report adds up.
 */
describe('buildModel decisions (scripted activities)', function () {
  this.timeout(120_000);
  const context = useWorkflowEnvironment();
  const model = (input: Record<string, unknown>) => modelDefinitionSchema.parse({ database: 'analytics', ...input });

  it('an incremental range longer than a run takes continues as new, each chunk once, one report for all', async () => {
    const daily = model({
      name: 'daily',
      sql: 'SELECT * FROM shop.events',
      materialization: 'incremental_by_period',
      incremental: { column: 'day', period: 'day', start: '2026-10-01', end: '2026-10-10', parallelism: 2 },
      tests: [{ unique: ['id'] }],
    });
    const statements: ModelStatementInput['statement'][] = [];
    const runIds = new Set<string>();
    const activities: Pick<Activities, 'runModelStatement' | 'readModel'> = {
      async runModelStatement({ statement, token }) {
        statements.push(statement);
        runIds.add(token.split('-').slice(1, -1).join('-'));
        const updatedRows = statement.kind === 'chunk-replace' ? 100 : 0;
        return {
          handle: { engine: 'trino', queryId: token },
          state: 'SUCCEEDED',
          updatedRows,
          stats: { executionMillis: 5, scannedBytes: 10 },
        };
      },
      async readModel({ read }) {
        const rows =
          read.kind === 'test-counts'
            ? [{ test: 0, [FAILURES_COLUMN]: 0 }]
            : read.kind === 'columns'
              ? [{ column_name: 'id' }, { column_name: 'day' }]
              : [];
        return { rows, stats: { executionMillis: 1, scannedBytes: 1 } };
      },
    };
    const input: BuildModelInput = { version: 1, model: daily, chunksPerRun: 4 };
    const { result, error } = await runWithFakes<ModelReport>(context.env, 'buildModel', input, activities);
    assert.equal(error, undefined);

    const replaced = statements.flatMap((s) => (s.kind === 'chunk-replace' ? [s] : []));
    const days = Array.from({ length: 10 }, (_, i) => `2026-10-${String(i + 1).padStart(2, '0')}`);
    assert.deepEqual(replaced.map((s) => s.period.from).sort(), days, 'every period replaced exactly once');
    assert.ok(
      replaced.every((s) => s.columns.join() === 'id,day'),
      'each MERGE names the columns read from the table',
    );
    assert.ok(!statements.some((s) => s.kind === 'chunk-remove' || s.kind === 'chunk-insert'), 'no period deleted apart');
    assert.equal(statements.filter((s) => s.kind === 'create-empty').length, 1, 'the table is created by the first run only');
    assert.equal(runIds.size, 3, '10 chunks at 4 per run: three runs');
    assert.equal(result?.chunks, 10);
    assert.equal(result?.rows, 1000);
    // Schema and table (nothing was found), 10 MERGEs, the columns once per run; the survey, the period check, the tests.
    assert.equal(result?.queries, 2 + 10 + 3 + 3);
  });

  it('a scheduled run whose source snapshots cannot be read builds every model instead of failing', async () => {
    const totals = model({ name: 'totals', sql: 'SELECT count(*) AS n FROM shop.orders', materialization: 'table' });
    const built: string[] = [];
    const activities: Pick<Activities, 'runModelStatement' | 'readModel' | 'sourceVersions'> = {
      async runModelStatement({ statement, token }) {
        built.push(statement.kind);
        return { handle: { engine: 'trino', queryId: token }, state: 'SUCCEEDED', updatedRows: 1 };
      },
      readModel: async () => ({ rows: [], stats: { executionMillis: 0, scannedBytes: 0 } }),
      sourceVersions: async () => {
        throw ApplicationFailure.nonRetryable('Table analytics.orders$snapshots does not exist', 'TABLE_NOT_FOUND');
      },
    };
    const input: RunModelsInput = {
      version: 1,
      models: [{ model: totals, after: [], sources: ['shop.orders'] }],
      parallelism: 1,
      onlyWhenSourcesAdvance: true,
    };
    const { result, error } = await runWithFakes<RunModelsResult>(context.env, 'runModels', input, activities);
    assert.equal(error, undefined);
    assert.deepEqual(
      result?.models.map((r) => r.outcome),
      ['built'],
    );
    assert.ok(built.includes('build') && built.includes('publish'));
    assert.equal(result?.sources, undefined, 'the next run compares with nothing, so it builds everything too');
  });

  it('a model another run is building is skipped with its children, saying so, and built by neither run twice', async () => {
    const busy = model({ name: uniqueName('busy'), sql: 'SELECT 1 AS n', materialization: 'table' });
    const child = model({ name: uniqueName('child'), sql: `SELECT * FROM analytics.${busy.name}`, materialization: 'table' });
    // The other run's build of `busy`: started under the model's build id on a queue no worker polls, so it stays running.
    const other = await context.env.client.workflow.start('buildModel', {
      taskQueue: uniqueName('nobody_tq'),
      workflowId: modelBuildId(busy),
      args: [{ version: 1, model: busy }],
    });
    const statements: string[] = [];
    const activities: Pick<Activities, 'runModelStatement' | 'readModel'> = {
      async runModelStatement({ statement, token }) {
        statements.push(statement.kind);
        return { handle: { engine: 'trino', queryId: token }, state: 'SUCCEEDED', updatedRows: 1 };
      },
      readModel: async () => ({ rows: [], stats: { executionMillis: 0, scannedBytes: 0 } }),
    };
    const input: RunModelsInput = {
      version: 1,
      models: [
        { model: busy, after: [] },
        { model: child, after: [modelName(busy)] },
      ],
      parallelism: 2,
    };
    try {
      const { result, error } = await runWithFakes<RunModelsResult>(context.env, 'runModels', input, activities);
      assert.equal(error, undefined);
      assert.deepEqual(
        result?.models.map((r) => [r.outcome, r.error]),
        [
          ['skipped', `not built: another run is building it now (icetide:model:analytics.${busy.name})`],
          ['skipped', `not built: analytics.${busy.name} skipped`],
        ],
      );
      assert.deepEqual(statements, [], 'nothing of either model ran');
    } finally {
      await other.terminate('test over');
    }
  });
});
