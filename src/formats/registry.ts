import type { ChangeSource, CheckOptions, FileCheck } from '../changes/validate';
import type { TableDefinition } from '../config/schema';
import { debeziumJson } from './debezium-json';
import { dmsCsv } from './dms-csv';
import { dmsParquet } from './dms-parquet';
import { dynamodbExport } from './dynamodb-export';
import { dynamodbStream } from './dynamodb-stream';
import type { ChangeBatch, ChangeFormat } from './format';
import { renderPathIn } from '../sql/changes';

/** Every staging format icetide reads, by the name a table definition gives it. */
const FORMATS: Record<TableDefinition['staging']['format'], ChangeFormat> = {
  'dms-csv': dmsCsv,
  'dms-parquet': dmsParquet,
  'debezium-json': debeziumJson,
  'dynamodb-stream': dynamodbStream,
  'dynamodb-export': dynamodbExport,
};

export const formatOf = (def: TableDefinition): ChangeFormat => FORMATS[def.staging.format];

/**
 * Checks a change file record by record before anything is merged, in the table's staging format: the file's
 * structure, operation, commit time, key columns, values that would not cast, and changes too late to merge.
 */
export function checkChangeFile(def: TableDefinition, uri: string, source: ChangeSource, options: CheckOptions = {}): Promise<FileCheck> {
  return formatOf(def).check(def, uri, source, options);
}

/** The staging rows a batch's MERGE reads: a predicate on the engine's `"$path"`. */
export const renderBatchFilter = (def: TableDefinition, batch: ChangeBatch): string =>
  formatOf(def).batchFilter?.(batch) ?? renderPathIn(batch.files);
