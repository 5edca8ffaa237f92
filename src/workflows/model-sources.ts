import { log, workflowInfo } from '@temporalio/workflow';
import { modelName } from '../shared';
import type { RunModelsInput, RunModelsResult } from './models';
import { TRANSIENT_RETRY } from './model-steps';
import { withQueryPermit } from './quota';
import { boundedActivities } from './steps';

/**
 * onlyWhenSourcesAdvance: reads the source tables' newest data snapshots (one query) and compares them with what the
 * previous scheduled run found. A model is up to date when its last run built it (or found it up to date), it reads
 * at least one icetide table or model, and none of its tables has a new snapshot; its parents are checked as the
 * DAG runs. A model reading neither is always built: its sources cannot be told apart from unchanged.
 */
export async function sourcesSinceLastRun(
  input: RunModelsInput,
): Promise<{ upToDate: (model: string) => boolean; sources?: Record<string, string | null> }> {
  const tables = [...new Set(input.models.flatMap(({ sources }) => sources ?? []))].sort();
  if (!input.onlyWhenSourcesAdvance || !tables.length) return { upToDate: () => false };
  const { sourceVersions } = boundedActivities(TRANSIENT_RETRY, 'models').step;
  // Unreadable snapshots (a source not created yet, a denied read) cannot tell what is up to date: build everything.
  const sources = await withQueryPermit(undefined, 'models: source snapshots', () => sourceVersions({ tables })).catch((err: Error) => {
    log.warn('models: source snapshots unreadable, building every model', { error: err.message });
    return undefined;
  });
  if (!sources) return { upToDate: () => false };
  const previous = workflowInfo().lastResult as RunModelsResult | undefined;
  const lastOutcome = new Map(previous?.models.map((report) => [report.model, report.outcome]));
  const byName = new Map(input.models.map((entry) => [modelName(entry.model), entry]));
  const upToDate = (name: string): boolean => {
    const { sources: read = [], after } = byName.get(name)!;
    const outcome = lastOutcome.get(name);
    return (
      (outcome === 'built' || outcome === 'unchanged') &&
      (read.length > 0 || after.length > 0) &&
      read.every((table) => previous?.sources !== undefined && table in previous.sources && previous.sources[table] === sources[table])
    );
  };
  return { upToDate, sources };
}
