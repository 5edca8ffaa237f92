import { ApplicationFailure } from '@temporalio/activity';
import type { DataTest, ModelDefinition } from '../config/models';
import { modelName } from '../shared';
import type { QueryHandle, ReadResult } from '../engines/engine';
import type { QueryOutcome } from '../shared';
import { renderChunk, renderPeriodCheck, renderPeriodReplace, type Period } from '../sql/chunks';
import { renderTestCounts, renderTestQuery } from '../sql/data-tests';
import {
  renderBuild,
  renderColumns,
  renderCreateTableAs,
  renderDropTable,
  renderListTables,
  renderPublish,
  renderSourceVersions,
  modelQuery,
} from '../sql/models';
import { renderCreateSchema } from '../sql/ddl';
import { renderScd2Create, renderScd2Merge } from '../sql/scd2';
import { submitAndFollow, submitStatement, whileWaiting } from './query';
import type { ActivityDeps } from './deps';

/** The statements a model's workflow runs; the SQL is rendered here, in the engine's dialect, never in history. */
export type ModelStatement =
  | { kind: 'schema' }
  | { kind: 'build'; version: string }
  | { kind: 'publish'; version: string }
  | { kind: 'drop'; table: string }
  | { kind: 'create-empty' }
  /** A period replaced in one MERGE; `columns` are the model table's, in order. */
  | { kind: 'chunk-replace'; period: Period; columns: string[] }
  /** Runs recorded before chunk-replace: a period deleted, then inserted. */
  | { kind: 'chunk-remove'; period: Period }
  | { kind: 'chunk-insert'; period: Period }
  | { kind: 'scd2-merge'; columns: string[]; at: string };

export interface ModelStatementInput {
  model: ModelDefinition;
  statement: ModelStatement;
  /** Stable per statement of a run, never per attempt. */
  token: string;
}

/** The reads a model's workflow makes; each returns a handful of rows. */
export type ModelRead =
  | { kind: 'tables'; prefix: string }
  | { kind: 'columns'; table: string }
  | { kind: 'test-counts'; tests: DataTest[]; table: string }
  /** A sample of one test's failing rows with their count. */
  | { kind: 'test'; test: DataTest; table: string }
  | { kind: 'period-check'; range: Period };

export function createModelActivities(deps: ActivityDeps) {
  const { engine, dialect } = deps;

  function render(model: ModelDefinition, statement: ModelStatement): string {
    switch (statement.kind) {
      case 'schema':
        return renderCreateSchema(model.database, dialect, deps.warehouse);
      case 'build':
        return renderBuild(model, statement.version, dialect, deps.warehouse);
      case 'publish':
        return renderPublish(model, statement.version, dialect);
      case 'drop':
        return renderDropTable(model.database, statement.table, dialect);
      case 'create-empty':
        return model.materialization === 'scd2'
          ? renderScd2Create(model, dialect, deps.warehouse)
          : renderCreateTableAs(model, model.name, `SELECT * FROM ${modelQuery(model)}`, dialect, {
              warehouse: deps.warehouse,
              noData: true,
            });
      case 'chunk-replace':
        if (model.materialization !== 'incremental_by_period') throw new Error(`${statement.kind} is for incremental models`);
        return renderPeriodReplace(model, statement.period, statement.columns, dialect);
      case 'chunk-remove':
      case 'chunk-insert': {
        if (model.materialization !== 'incremental_by_period') throw new Error(`${statement.kind} is for incremental models`);
        const chunk = renderChunk(model, statement.period, dialect);
        return statement.kind === 'chunk-remove' ? chunk.remove : chunk.insert;
      }
      case 'scd2-merge':
        if (model.materialization !== 'scd2') throw new Error('scd2-merge is for scd2 models');
        return renderScd2Merge(model, statement.columns, statement.at, dialect);
    }
  }

  async function submit(input: ModelStatementInput): Promise<QueryHandle> {
    const sql = render(input.model, input.statement);
    if (input.statement.kind === 'chunk-insert' || input.statement.kind === 'chunk-replace') deps.failpoint?.('submit-chunk');
    return submitStatement(deps, `model ${modelName(input.model)}: submitting ${input.statement.kind}`, sql, input.token);
  }

  function renderRead(model: ModelDefinition, read: ModelRead): string {
    switch (read.kind) {
      case 'tables':
        return renderListTables(model.database, read.prefix, dialect);
      case 'columns':
        return renderColumns(model.database, read.table, dialect);
      case 'test-counts':
        return renderTestCounts(read.tests, dialect.relation(model.database, read.table), dialect);
      case 'test':
        return renderTestQuery(read.test, dialect.relation(model.database, read.table), dialect);
      case 'period-check':
        if (model.materialization !== 'incremental_by_period') {
          throw ApplicationFailure.nonRetryable(`model ${modelName(model)}: the period check is for incremental models`);
        }
        return renderPeriodCheck(model, read.range, dialect);
    }
  }

  return {
    /**
     * Submits one of a model's statements and follows it to its end, in one activity: the handle rides in heartbeats
     * (a retry on another worker resumes following it) and the token makes a retried submit find the same query.
     * Engine trouble while submitting is retried for `transientRetryMs`, then the step fails naming the engine error.
     */
    runModelStatement: (input: ModelStatementInput & { transientRetryMs: number }): Promise<QueryOutcome> =>
      submitAndFollow(
        deps,
        { label: `model ${modelName(input.model)}: ${input.statement.kind}`, transientRetryMs: input.transientRetryMs },
        () => submit(input),
      ),

    /** Submits one of a model's statements (runs recorded before runModelStatement: submit and await apart). */
    startModelStatement: submit,

    /** One short read for a model (its tables, columns, the data tests, the period check), run to its end. */
    async readModel(input: { model: ModelDefinition; read: ModelRead }): Promise<ReadResult> {
      const { model, read } = input;
      const sql = renderRead(model, read);
      const what = `model ${modelName(model)}: reading ${read.kind}`;
      return whileWaiting(what, (signal) => engine.read(sql, signal));
    },

    /** The newest data snapshot of each source table (see renderSourceVersions); a table with none maps to null. */
    async sourceVersions(input: { tables: string[] }): Promise<Record<string, string | null>> {
      const what = `models: reading the snapshots of ${input.tables.join(', ')}`;
      const { rows } = await whileWaiting(what, (signal) => engine.read(renderSourceVersions(input.tables, dialect), signal));
      return Object.fromEntries(rows.map((row) => [String(row.source), row.snapshot === null ? null : String(row.snapshot)]));
    },

    /** Posts a message to a webhook as `{ "text": ... }` (Slack's incoming webhooks take it as is). */
    async postAlert(input: { url: string; text: string }): Promise<void> {
      const response = await fetch(input.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ text: input.text }),
        signal: AbortSignal.timeout(10_000),
      });
      if (response.status >= 400 && response.status < 500 && response.status !== 429) {
        throw ApplicationFailure.nonRetryable(`alert webhook refused the message: HTTP ${response.status}`);
      }
      if (!response.ok) throw new Error(`alert webhook answered HTTP ${response.status}`);
    },
  };
}
