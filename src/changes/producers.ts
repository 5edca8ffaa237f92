import { gzipSync } from 'node:zlib';
import { parquetWriteBuffer } from 'hyparquet-writer';
import type { Column, TableDefinition } from '../config/schema';
import { fieldOf } from '../formats/json-lines';

/**
 * Change files as the upstream tools write them (DMS, Debezium, a Lambda on a DynamoDB stream), from one neutral
 * list of changes: what the demo, the tests and the benchmarks land in staging.
 */

/** One change: operation, commit time (UTC) and the row's values by column. */
export interface ChangeEvent {
  op: 'I' | 'U' | 'D';
  /** `yyyy-MM-dd HH:mm:ss.ffffff` */
  ts: string;
  values: Record<string, string | number | null>;
  /** Position among changes with the same commit time (Debezium's LSN, DynamoDB's SequenceNumber); default 0. */
  position?: number;
}

const field = (value: string): string => (/[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value);

/** Renders change events as a DMS CSV change file (no header, NULL as the table's null value). */
export function renderDmsCsv(def: TableDefinition, events: ChangeEvent[]): string {
  return events
    .map((e) =>
      [
        e.op,
        e.ts,
        ...def.columns.map((c) => {
          const v = e.values[c.name];
          return v === null || v === undefined ? def.staging.nullValue : String(v);
        }),
      ]
        .map(field)
        .join(','),
    )
    .map((line) => `${line}\n`)
    .join('');
}

const epochMicros = (ts: string): bigint => {
  const [seconds, fraction = ''] = ts.split('.');
  return BigInt(Date.parse(`${seconds.replace(' ', 'T')}Z`)) * 1000n + BigInt(fraction.padEnd(6, '0'));
};

/** A column's value as Debezium's JSON converter writes it: numbers as numbers, decimals as strings (decimal.handling.mode=string), timestamps as MicroTimestamp. */
function debeziumValue(column: Column, value: string | number | null | undefined): unknown {
  if (value === null || value === undefined) return null;
  if (['bigint', 'int', 'double'].includes(column.type)) return Number(value);
  if (column.type === 'boolean') return String(value) === 'true';
  if (column.type === 'timestamp') return Number(epochMicros(String(value)));
  return String(value);
}

/** Debezium JSON lines: one envelope per change (a delete followed by its null tombstone), optionally with the schema wrapper. */
export function renderDebeziumJson(def: TableDefinition, events: ChangeEvent[], options: { wrapped?: boolean } = {}): string {
  const image = (e: ChangeEvent, columns: Column[]) =>
    Object.fromEntries(columns.map((c) => [fieldOf(c), debeziumValue(c, e.values[c.name])]));
  const keys = def.columns.filter((c) => def.primaryKey.includes(c.name));
  return events
    .flatMap((e) => {
      const tsMs = Number(epochMicros(e.ts) / 1000n);
      const envelope = {
        before: e.op === 'D' ? image(e, keys) : null,
        after: e.op === 'D' ? null : image(e, def.columns),
        source: { connector: 'postgresql', ts_ms: tsMs, lsn: e.position ?? 0 },
        op: { I: 'c', U: 'u', D: 'd' }[e.op],
        ts_ms: tsMs + 5,
      };
      const line = JSON.stringify(options.wrapped ? { schema: { type: 'struct' }, payload: envelope } : envelope);
      return e.op === 'D' ? [line, 'null'] : [line];
    })
    .map((line) => `${line}\n`)
    .join('');
}

function attributeValue(column: Column, value: string | number | null | undefined): Record<string, unknown> {
  if (value === null || value === undefined) return { NULL: true };
  if (['bigint', 'int', 'double'].includes(column.type) || column.type.startsWith('decimal')) return { N: String(value) };
  if (column.type === 'boolean') return { BOOL: String(value) === 'true' };
  if (column.type === 'timestamp') return { S: `${String(value).replace(' ', 'T')}Z` };
  return { S: String(value) };
}

/** DynamoDB Streams records as JSON lines, as a Lambda on the stream writes them (NEW_AND_OLD_IMAGES view). */
export function renderDynamoDbStream(def: TableDefinition, events: ChangeEvent[]): string {
  const image = (e: ChangeEvent, columns: Column[]) =>
    Object.fromEntries(columns.map((c) => [fieldOf(c), attributeValue(c, e.values[c.name])]));
  const keys = def.columns.filter((c) => def.primaryKey.includes(c.name));
  return events
    .map((e, i) => {
      const micros = epochMicros(e.ts);
      const dynamodb = {
        ApproximateCreationDateTime: Number(micros / 1_000_000n) + Number(micros % 1_000_000n) / 1e6,
        Keys: image(e, keys),
        ...(e.op === 'D' ? {} : { NewImage: image(e, def.columns) }),
        SequenceNumber: String(e.position ?? 0).padStart(21, '0'),
        SizeBytes: 64,
        StreamViewType: 'NEW_AND_OLD_IMAGES',
      };
      const eventName = { I: 'INSERT', U: 'MODIFY', D: 'REMOVE' }[e.op];
      return JSON.stringify({
        eventID: String(i),
        eventName,
        eventVersion: '1.1',
        eventSource: 'aws:dynamodb',
        awsRegion: 'us-east-1',
        dynamodb,
      });
    })
    .map((line) => `${line}\n`)
    .join('');
}

/** The Parquet column of a definition type, as DMS writes it (timestamps in microseconds). */
function parquetColumn(column: Column): {
  type: 'BYTE_ARRAY' | 'INT64' | 'INT32' | 'DOUBLE' | 'BOOLEAN' | 'FIXED_LEN_BYTE_ARRAY';
  extra: object;
  value(v: string | number): unknown;
} {
  const decimal = /^decimal\((\d+),\s*(\d+)\)$/.exec(column.type);
  if (decimal) {
    const [precision, scale] = [Number(decimal[1]), Number(decimal[2])];
    return {
      type: 'FIXED_LEN_BYTE_ARRAY',
      extra: { type_length: Math.ceil((precision * Math.log2(10) + 1) / 8), converted_type: 'DECIMAL', precision, scale },
      value: Number,
    };
  }
  switch (column.type) {
    case 'bigint':
      return { type: 'INT64', extra: {}, value: (v) => BigInt(v) };
    case 'int':
      return { type: 'INT32', extra: {}, value: Number };
    case 'double':
      return { type: 'DOUBLE', extra: {}, value: Number };
    case 'boolean':
      return { type: 'BOOLEAN', extra: {}, value: (v) => String(v) === 'true' };
    case 'date':
      return { type: 'INT32', extra: { converted_type: 'DATE' }, value: (v) => Date.parse(`${String(v)}T00:00:00Z`) / 86_400_000 };
    case 'timestamp':
      return { type: 'INT64', extra: { converted_type: 'TIMESTAMP_MICROS' }, value: (v) => epochMicros(String(v)) };
    default:
      return { type: 'BYTE_ARRAY', extra: { converted_type: 'UTF8' }, value: String };
  }
}

/** A DMS Parquet change file: `Op`, the timestamp column as text, then the columns typed. */
export function renderDmsParquet(def: TableDefinition, events: ChangeEvent[]): Buffer {
  const text = { type: 'BYTE_ARRAY' as const, extra: { converted_type: 'UTF8' }, value: String };
  const fields = [
    { name: 'Op', ...text, data: events.map((e) => e.op) },
    { name: def.ordering.commitTimestamp, ...text, data: events.map((e) => e.ts) },
    ...def.columns.map((c) => {
      const p = parquetColumn(c);
      return {
        name: c.name,
        ...p,
        data: events.map((e) => (e.values[c.name] === null || e.values[c.name] === undefined ? null : p.value(e.values[c.name]!))),
      };
    }),
  ];
  const buffer = parquetWriteBuffer({
    columnData: fields.map((f) => ({ name: f.name, data: f.data as never })),
    schema: [
      { name: 'root', num_children: fields.length },
      ...fields.map((f) => ({ name: f.name, type: f.type, repetition_type: 'OPTIONAL' as const, ...f.extra })),
    ] as never,
  });
  return Buffer.from(buffer);
}

/** The change file of the table's format. */
export function renderChangeFile(def: TableDefinition, events: ChangeEvent[]): string | Buffer {
  switch (def.staging.format) {
    case 'dms-parquet':
      return renderDmsParquet(def, events);
    case 'debezium-json':
      return renderDebeziumJson(def, events);
    case 'dynamodb-stream':
      return renderDynamoDbStream(def, events);
    default:
      return renderDmsCsv(def, events);
  }
}

/**
 * A full DynamoDB export of `rows` as DynamoDB writes it: data files (`{"Item": ...}` lines, gzipped) under
 * `AWSDynamoDB/<exportId>/data/`, then `manifest-files.json`, then `manifest-summary.json` last: the order in which
 * they appear is the order of the returned entries.
 */
export function renderDynamoDbExport(def: TableDefinition, rows: ChangeEvent['values'][], options: ExportOptions): ExportObject[] {
  const item = (values: ChangeEvent['values']) => ({
    Item: Object.fromEntries(def.columns.map((c) => [fieldOf(c), attributeValue(c, values[c.name])])),
  });
  return packageExport(def, rows.map(item), 'FULL_EXPORT', options);
}

/** An incremental DynamoDB export of `events`: each item's Keys, NewImage/OldImage and write time. */
export function renderDynamoDbIncrementalExport(def: TableDefinition, events: ChangeEvent[], options: ExportOptions): ExportObject[] {
  const image = (e: ChangeEvent, columns: Column[]) =>
    Object.fromEntries(columns.map((c) => [fieldOf(c), attributeValue(c, e.values[c.name])]));
  const keys = def.columns.filter((c) => def.primaryKey.includes(c.name));
  const record = (e: ChangeEvent) => ({
    Metadata: { WriteTimestampMicros: { N: String(epochMicros(e.ts)) } },
    Keys: image(e, keys),
    ...(e.op === 'I' ? {} : { OldImage: image(e, def.columns) }),
    ...(e.op === 'D' ? {} : { NewImage: image(e, def.columns) }),
  });
  return packageExport(def, events.map(record), 'INCREMENTAL_EXPORT', options);
}

interface ExportOptions {
  exportId: string;
  exportTime: string;
  dataFiles?: number;
}
type ExportObject = { key: string; body: Buffer | string };

function packageExport(def: TableDefinition, records: object[], exportType: string, options: ExportOptions): ExportObject[] {
  const folder = `AWSDynamoDB/${options.exportId}/`;
  const count = options.dataFiles ?? 2;
  const parts = Array.from({ length: count }, (_, i) => records.filter((_, r) => r % count === i));
  const data = parts.map((part, i) => ({
    key: `${folder}data/${options.exportId}-${i}.json.gz`,
    items: part.length,
    body: gzipSync(part.map((r) => `${JSON.stringify(r)}\n`).join('')),
  }));
  const manifest = data
    .map((d) => JSON.stringify({ itemCount: d.items, md5Checksum: 'x', etag: 'y', dataFileS3Key: `exports/${d.key}` }))
    .join('\n');
  const summary = {
    version: '2020-06-30',
    exportArn: `arn:aws:dynamodb:us-east-1:123456789012:table/${def.table}/export/${options.exportId}`,
    exportTime: options.exportTime,
    exportType,
    itemCount: records.length,
    outputFormat: 'DYNAMODB_JSON',
  };
  return [
    { key: `${folder}_started`, body: '' },
    ...data.map(({ key, body }) => ({ key, body })),
    { key: `${folder}manifest-files.json`, body: `${manifest}\n` },
    { key: `${folder}manifest-summary.json`, body: JSON.stringify(summary, null, 2) },
  ];
}
