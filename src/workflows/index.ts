import { setWorkflowOptions } from '@temporalio/workflow';
import { ingestBatch } from './ingest';
import { maintainTable } from './maintain';
import { buildModel } from './build-model';
import { runModels } from './models';
import { ensureTable, planTable, runStatement } from './tables';

export { engineQuota } from './quota';
export { ingestBatch, maintainTable, ensureTable, planTable, runStatement, buildModel, runModels };

// An error thrown by workflow code (a bug, a value nobody expected) fails the run instead of its workflow task: a
// failed task is retried forever and parks the run, and with overlap SKIP the table's later ticks with it. A failed
// run is safe to follow (the MERGE's version guard makes the next batch a no-op for what already committed).
// Non-determinism still parks the run (raised by the SDK, not thrown here): a fixed deployment resumes it. The quota
// workflow is not listed: it is long-lived and holds other runs' permits.
const tableWorkflows: ((input: never) => Promise<unknown>)[] = [
  ingestBatch,
  maintainTable,
  ensureTable,
  planTable,
  runStatement,
  buildModel,
  runModels,
];
for (const workflow of tableWorkflows) {
  setWorkflowOptions({ failureExceptionTypes: [Error] }, workflow);
}
