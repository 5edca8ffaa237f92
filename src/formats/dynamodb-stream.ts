import type { FileCheckRecorder } from '../changes/validate';
import type { TableDefinition } from '../config/schema';
import { renderChangesSelect, renderOpMapping, renderPaddedDigits, renderPathIn } from '../sql/changes';
import { SEQUENCE_WIDTH } from './dms';
import { isObject } from '../config/json';
import { attributeText, checkAttribute } from './dynamodb-values';
import type { ChangeFormat } from './format';
import {
  castJsonText,
  checkJsonLines,
  fieldOf,
  isJsonLinesFile,
  jsonLinesStagingTable,
  jsonPath,
  jsonText,
  jsonLinesMalformed,
  jsonRecords,
} from './json-lines';

const OPS: Record<string, 'I' | 'U' | 'D'> = { INSERT: 'I', MODIFY: 'U', REMOVE: 'D' };

/** ApproximateCreationDateTime above this is in milliseconds (Kinesis Data Streams records), else in seconds. */
const MILLIS_ABOVE = 100_000_000_000;

/**
 * DynamoDB Streams records as JSON lines (what a Lambda on the stream writes to S3): `eventName` INSERT, MODIFY or
 * REMOVE; key attributes from `dynamodb.Keys`, the others from `dynamodb.NewImage` (a REMOVE keeps only its key).
 * Ordering: `dynamodb.ApproximateCreationDateTime` (epoch seconds, or milliseconds), then `dynamodb.SequenceNumber`
 * (which orders the changes of one item). Typed attribute values map to the column's type: S and N as text cast
 * to it, BOOL to boolean, NULL to NULL; M, L, sets and B only into string columns, as their DynamoDB JSON. Integers
 * in timestamp columns are epoch seconds.
 */
export const dynamodbStream: ChangeFormat = {
  isChangeFile: isJsonLinesFile,
  stagingTable: jsonLinesStagingTable,
  malformed: () => jsonLinesMalformed,

  changes(def, dialect, { files }, mode) {
    const text = (...path: string[]) => jsonText('j', jsonPath(...path));
    const op = renderOpMapping(text('eventName'), OPS);
    const created = `CAST(${text('dynamodb', 'ApproximateCreationDateTime')} AS decimal(38, 9))`;
    const nanos = `CAST(${created} * CASE WHEN ${created} > ${MILLIS_ABOVE} THEN 1000000 ELSE 1000000000 END AS bigint)`;
    const commitTs = `CAST(from_unixtime_nanos(${nanos}) AT TIME ZONE 'UTC' AS timestamp(6))`;
    const sequence = renderPaddedDigits(text('dynamodb', 'SequenceNumber'), SEQUENCE_WIDTH);
    const columns = def.columns.map((c) => {
      const image = def.primaryKey.includes(c.name) ? 'Keys' : 'NewImage';
      const given = attributeText('j', ['dynamodb', image, fieldOf(c)], c);
      return { name: c.name, value: castJsonText(given, c.type, 'seconds'), given };
    });
    return renderChangesSelect({
      op,
      commitTs,
      sequence,
      columns,
      from: `(${jsonRecords(def, dialect, renderPathIn(files), mode)}) AS records`,
      mode,
    });
  },

  check: (def, uri, source, options) =>
    checkJsonLines(def, uri, source, options, (value, recorder, line) => checkRecord(def, recorder, line, value)),
};

/** Renders epoch seconds (or milliseconds) with up to 9 decimals as `yyyy-MM-dd HH:mm:ss.ffffff`, as the SQL does. */
function creationTime(value: number): string | undefined {
  if (!Number.isFinite(value) || value < 0) return undefined;
  const micros = Math.round(value > MILLIS_ABOVE ? value * 1_000 : value * 1_000_000);
  const date = new Date(Math.floor(micros / 1000));
  if (Number.isNaN(date.getTime()) || date.getUTCFullYear() > 9999) return undefined;
  return `${date.toISOString().slice(0, 19).replace('T', ' ')}.${String(micros % 1_000_000).padStart(6, '0')}`;
}

function checkRecord(def: TableDefinition, recorder: FileCheckRecorder, line: number, record: unknown): void {
  const report = (problem: string) => recorder.report(line, problem);
  if (!isObject(record) || !isObject(record.dynamodb)) return report('not a DynamoDB Streams record (expected eventName and dynamodb)');
  recorder.row();
  const op = OPS[String(record.eventName)];
  if (!op) report('unknown eventName (expected INSERT, MODIFY or REMOVE)');
  else recorder.operation(line, op);
  const { dynamodb } = record;
  const created = typeof dynamodb.ApproximateCreationDateTime === 'number' ? creationTime(dynamodb.ApproximateCreationDateTime) : undefined;
  if (!created) report('dynamodb.ApproximateCreationDateTime is not an epoch time');
  else recorder.commitTime(line, created);
  const sequence = dynamodb.SequenceNumber;
  if (typeof sequence !== 'string' || !/^\d{1,40}$/.test(sequence)) {
    report(`dynamodb.SequenceNumber is not a string of at most ${SEQUENCE_WIDTH} digits`);
  }
  if (!op) return;
  for (const [image, required] of [
    ['Keys', true],
    ['NewImage', op !== 'D'],
  ] as const) {
    if (required && !isObject(dynamodb[image])) report(`dynamodb.${image} is missing (the stream's view type must include new images)`);
  }
  const keys = isObject(dynamodb.Keys) ? dynamodb.Keys : {};
  const newImage = isObject(dynamodb.NewImage) ? dynamodb.NewImage : {};
  for (const column of def.columns) {
    const key = def.primaryKey.includes(column.name);
    if (op === 'D' && !key) continue;
    const attribute = (key ? keys : newImage)[fieldOf(column)];
    if (attribute === undefined) {
      if (key) report(`primary key column ${column.name} (attribute ${fieldOf(column)}) is missing from Keys`);
      continue;
    }
    checkAttribute(recorder, line, column, key, attribute, def.primaryKey[0]);
  }
}
