export { ingestBatch, runStatement, ensureTableWorkflow as ensureTable } from './ingest';
