import type { Client } from '@temporalio/client';
import type { Project } from '../config/project';
import { dependenciesOf, selectModels, sourcesOf, type ModelDefinition } from '../config/models';
import type { ModelReport } from '../workflows/model-report';
import type { RunModelsInput, RunModelsResult } from '../workflows/models';
import { modelName, tableName } from '../shared';
import { runLink } from './context';
import { athenaCostUsd, formatBytes, formatDuration, formatUsd } from './text';

/** What a run of `models` gets: each with the models of the run it waits for, the project's run settings. */
export function modelRunInput(project: Project, models: ModelDefinition[], link: string): RunModelsInput {
  return {
    version: 1,
    models: models.map((model) => ({
      model,
      after: dependenciesOf(model, project.models),
      sources: sourcesOf(model, project.tables.map(tableName)),
    })),
    parallelism: project.settings.modelRuns.parallelism,
    onlyWhenSourcesAdvance: project.settings.modelRuns.onlyWhenSourcesAdvance,
    alertWebhook: project.settings.modelRuns.alertWebhook,
    runLink: link,
  };
}

/** A model as `plan` and `models list` show it: `name (materialization) after <models>; reads <icetide tables>`. */
export function describeModel(model: ModelDefinition, project: Project): string {
  const after = dependenciesOf(model, project.models);
  const sources = sourcesOf(model, project.tables.map(tableName));
  return (
    `${modelName(model)} (${model.materialization})` +
    (after.length ? ` after ${after.join(', ')}` : '') +
    (sources.length ? `; reads ${sources.join(', ')}` : '')
  );
}

/** `icetide models run`: the selected models as one DAG run; its workflow id is `icetide:models:<time>`. */
export async function startModels(client: Client, project: Project, selectors: string[]) {
  const models = selectModels(project.models, selectors);
  if (!models.length) throw new Error(`no models in ${project.file}`);
  const workflowId = `icetide:models:${new Date().toISOString()}`;
  const handle = await client.workflow.start('runModels', {
    taskQueue: project.runtime.ICETIDE_TASK_QUEUE,
    workflowId,
    args: [modelRunInput(project, models, runLink(project, workflowId))],
    staticSummary: `models: ${models.map(modelName).join(', ')}`,
  });
  return { handle, models };
}

/** One line per model: outcome, rows, bytes scanned and Athena's price for them, duration; the error when it failed. */
export function describeModelReport(report: ModelReport): string {
  if (report.outcome === 'unchanged') return `= ${report.model} unchanged: its sources did not advance since its last build`;
  if (report.outcome !== 'built') return `${report.outcome === 'failed' ? '✗' : '-'} ${report.model} ${report.outcome}: ${report.error}`;
  const extra = [
    report.chunks !== undefined && `${report.chunks} chunk(s)`,
    report.tests !== undefined && `${report.tests} test(s) passed`,
    report.version && `published ${report.version}`,
  ].filter(Boolean);
  return (
    `✓ ${report.model} built (${report.materialization}): ${report.rows} row(s), ${formatBytes(report.scannedBytes)} scanned ` +
    `(${formatUsd(athenaCostUsd(report.scannedBytes))} on Athena), ${formatDuration(report.millis)}, ${report.queries} queries` +
    (extra.length ? `; ${extra.join(', ')}` : '')
  );
}

export const summarizeModels = (result: RunModelsResult): string =>
  `${result.models.filter((r) => r.outcome === 'built').length} built, ${result.failed} failed, ` +
  `${result.models.filter((r) => r.outcome === 'skipped').length} skipped` +
  (result.sources ? `, ${result.models.filter((r) => r.outcome === 'unchanged').length} unchanged` : '');
