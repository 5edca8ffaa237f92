export { ingestBatch, runStatement, ensureTableWorkflow as ensureTable } from './ingest';
export { maintainTable } from './maintain';
