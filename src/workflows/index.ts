export { ingestBatch } from './ingest';
