import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { executeChild, patched, workflowInfo } from '@temporalio/workflow';
import type { ModelDefinition } from '../config/models';
import { modelBuildId, modelName } from '../shared';
import { buildModel } from './build-model';
import { emptyReport, type ModelReport } from './model-report';
import { sourcesSinceLastRun } from './model-sources';
import { TRANSIENT_RETRY } from './model-steps';
import { boundedActivities } from './steps';

export interface RunModelsInput {
  version: 1;
  /**
   * In dependency order; `after` lists the models of this run each one waits for, `sources` the icetide tables it
   * reads.
   */
  models: { model: ModelDefinition; after: string[]; sources?: string[] }[];
  /** Scheduled runs: a model whose sources and parents did not advance since its last build is not built again. */
  onlyWhenSourcesAdvance?: boolean;
  parallelism: number;
  alertWebhook?: string;
  /** The Temporal UI page of runs, for the alert's link. */
  runLink?: string;
}

export interface RunModelsResult {
  version: 1;
  models: ModelReport[];
  failed: number;
  /** The source tables' newest data snapshots as this run found them (onlyWhenSourcesAdvance): the next run compares. */
  sources?: Record<string, string | null>;
}

/**
 * Runs models as a DAG: each once all the models it waits for are built, `parallelism` at a time, each a child run
 * retried with backoff (`retries`); a model whose parent failed is skipped, the others go on. A model another run is
 * building (its build's id is taken) is skipped, saying so, with its children: two builds of one model would write
 * the same periods at once. Failures are posted to the alert webhook. The result reports every model.
 */
export async function runModels(input: RunModelsInput): Promise<RunModelsResult> {
  // Runs recorded before one build per model named each build after the run.
  const buildIdPerModel = patched('one-build-per-model');
  const reports = new Map<string, ModelReport>();
  const running = new Map<string, Promise<void>>();
  const inRun = new Set(input.models.map(({ model }) => modelName(model)));
  const { upToDate, sources } = await sourcesSinceLastRun(input);
  for (;;) {
    for (const { model, after } of input.models) {
      const name = modelName(model);
      if (reports.has(name) || running.has(name)) continue;
      const parents = after.filter((parent) => inRun.has(parent));
      const broken = parents.find((parent) => ['failed', 'skipped'].includes(reports.get(parent)?.outcome ?? ''));
      if (broken) {
        reports.set(name, { ...emptyReport(model, 'skipped'), error: `not built: ${broken} ${reports.get(broken)!.outcome}` });
        continue;
      }
      if (!parents.every((parent) => reports.has(parent))) continue;
      if (upToDate(name) && parents.every((parent) => reports.get(parent)!.outcome === 'unchanged')) {
        reports.set(name, emptyReport(model, 'unchanged'));
        continue;
      }
      if (running.size >= input.parallelism) continue;
      const workflowId = buildIdPerModel ? modelBuildId(model) : `${workflowInfo().workflowId}:${name}`;
      const child = executeChild(buildModel, {
        workflowId,
        args: [{ version: 1, model }],
        retry: { maximumAttempts: model.retries + 1, initialInterval: '10s', backoffCoefficient: 2 },
        staticSummary: `model ${name} (${model.materialization})`,
      }).then(
        (report) => void reports.set(name, report),
        (err: Error) =>
          void reports.set(
            name,
            err instanceof WorkflowExecutionAlreadyStartedError
              ? { ...emptyReport(model, 'skipped'), error: `not built: another run is building it now (${workflowId})` }
              : { ...emptyReport(model, 'failed'), error: (err.cause as Error | undefined)?.message ?? err.message },
          ),
      );
      running.set(
        name,
        child.finally(() => running.delete(name)),
      );
    }
    if (!running.size) break;
    await Promise.race(running.values());
  }
  const models = input.models.map(({ model }) => reports.get(modelName(model))!);
  const failed = models.filter((r) => r.outcome === 'failed');
  if (failed.length && input.alertWebhook) {
    const { postAlert } = boundedActivities(TRANSIENT_RETRY, 'models').step;
    const lines = failed.map((r) => `• ${r.model}: ${r.error}`);
    await postAlert({
      url: input.alertWebhook,
      text: [`icetide: ${failed.length} model(s) failed in ${workflowInfo().workflowId}`, ...lines, input.runLink ?? ''].join('\n').trim(),
    }).catch(() => undefined); // an alert that cannot be sent does not fail the run it reports on
  }
  return { version: 1, models, failed: failed.length, ...(sources && { sources }) };
}
