import type { ModelDefinition } from '../config/models';
import { modelName } from '../shared';

/** What building one model did: the outcome, and what its statements wrote and cost. */
export interface ModelReport {
  model: string;
  materialization: ModelDefinition['materialization'];
  /** `unchanged`: its sources did not advance since its last build (onlyWhenSourcesAdvance); `skipped`: a parent failed, or another run was building it. */
  outcome: 'built' | 'unchanged' | 'failed' | 'skipped';
  /** Rows the model's statements wrote (CTAS, inserts, MERGE), as the engine reports them. */
  rows: number;
  scannedBytes: number;
  /** Time the engine spent executing the model's statements and reads; wall time minus this is orchestration. */
  engineMillis: number;
  millis: number;
  queries: number;
  /** `table`: the version published. */
  version?: string;
  chunks?: number;
  tests?: number;
  error?: string;
}

/** A report with nothing run yet. */
export const emptyReport = (model: ModelDefinition, outcome: ModelReport['outcome']): ModelReport => ({
  model: modelName(model),
  materialization: model.materialization,
  outcome,
  rows: 0,
  scannedBytes: 0,
  engineMillis: 0,
  millis: 0,
  queries: 0,
});
