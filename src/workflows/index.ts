export { ingestBatch, runStatement } from './ingest';
