export { ingestBatch } from './ingest';
export { maintainTable } from './maintain';
export { ensureTable, planTable, runStatement } from './tables';
export { engineQuota } from './quota';
export { buildModel, runModels } from './models';
