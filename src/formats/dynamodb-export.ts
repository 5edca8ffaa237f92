import type { Readable } from 'node:stream';
import { asStream, FileCheckRecorder, type ChangeSource, type CheckOptions, type FileCheck } from '../changes/validate';
import type { TableDefinition } from '../config/schema';
import { quoteString } from '../sql/identifiers';
import { renderChangesSelect } from '../sql/changes';
import { isObject } from '../config/json';
import { attributeText, checkAttribute } from './dynamodb-values';
import type { ChangeFormat } from './format';
import {
  castJsonText,
  fieldOf,
  jsonLinesStagingTable,
  jsonPath,
  jsonLinesMalformed,
  jsonRecords,
  jsonText,
  readJsonLines,
} from './json-lines';

const SUMMARY = 'manifest-summary.json';
const FILES_MANIFEST = 'manifest-files.json';
/** An export's folder under staging: `AWSDynamoDB/<export id>/`. */
const EXPORT_FOLDER = /(^|\/)AWSDynamoDB\/[^/]+\//;

/**
 * DynamoDB's export to S3 (DYNAMODB_JSON, full export): `AWSDynamoDB/<export id>/data/*.json.gz` of lines
 * `{"Item": {...typed attributes...}}`, listed by `manifest-files.json`; `manifest-summary.json` is written when
 * the export is complete, so it is the change file: a batch takes one export, only once its summary exists and every
 * data file its manifest lists is there with the item count it states. A full export's items are inserts at the
 * export's time (`exportTime`): with kind snapshot the export replaces the table, with kind append it adds the items
 * not yet there. An incremental export's records are changes (kind cdc or append) at their write time.
 */
export const dynamodbExport: ChangeFormat = {
  isChangeFile: (name) => /(^|\/)AWSDynamoDB\/[^/]+\/manifest-summary\.json$/.test(name),
  folder: {
    of: (uri) => uri.slice(0, uri.length - SUMMARY.length),
    contains: (name) => EXPORT_FOLDER.test(name),
  },
  stagingTable: jsonLinesStagingTable,
  malformed: () => jsonLinesMalformed,

  changes(def, dialect, { files, exportTime }, mode) {
    if (!exportTime) throw new Error(`table ${def.database}.${def.table}: a DynamoDB export batch needs its export time`);
    // A full export's line is {"Item"}: an insert at the export's time. An incremental export's line holds the
    // item's Keys, NewImage (absent: deleted) and OldImage (absent: new), written at Metadata.WriteTimestampMicros.
    const has = (member: string) => `json_extract(j, ${quoteString(jsonPath(member))}) IS NOT NULL`;
    const op = `CASE WHEN ${has('Item')} THEN 'I' WHEN NOT ${has('NewImage')} THEN 'D' WHEN NOT ${has('OldImage')} THEN 'I' ELSE 'U' END`;
    const written = jsonText('j', jsonPath('Metadata', 'WriteTimestampMicros', 'N'));
    const commitTs = `coalesce(CAST(from_unixtime_nanos(CAST(${written} AS bigint) * 1000) AT TIME ZONE 'UTC' AS timestamp(6)), TIMESTAMP ${quoteString(exportTime)})`;
    const columns = def.columns.map((c) => {
      const image = def.primaryKey.includes(c.name) ? 'Keys' : 'NewImage';
      const given = `coalesce(${attributeText('j', ['Item', fieldOf(c)], c)}, ${attributeText('j', [image, fieldOf(c)], c)})`;
      return { name: c.name, value: castJsonText(given, c.type, 'seconds'), given };
    });
    return renderChangesSelect({
      op,
      commitTs,
      sequence: `''`,
      columns,
      from: `(${jsonRecords(def, dialect, exportData(files), mode)}) AS records`,
      mode,
    });
  },

  batchFilter: ({ files }) => exportData(files),
  check: checkExport,
};

/** The data files of the exports whose summaries are `files`. */
export const exportDataFolder = (summary: string): string => `${summary.slice(0, summary.length - SUMMARY.length)}data/`;
const exportData = (files: string[]): string =>
  `(${files
    .map(exportDataFolder)
    .map((folder) => `substr("$path", 1, ${folder.length}) = ${quoteString(folder)}`)
    .join(' OR ')})`;

async function readAll(source: ChangeSource): Promise<string> {
  if (typeof source === 'string') return source;
  const chunks: Buffer[] = [];
  for await (const chunk of asStream(source)) chunks.push(Buffer.from(chunk as Buffer | string));
  return Buffer.concat(chunks).toString('utf8');
}

const ISO_INSTANT = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))?Z$/;

/** Checks the export whose summary is `uri`: summary, files manifest, and every item of every data file. */
async function checkExport(def: TableDefinition, uri: string, source: ChangeSource, options: CheckOptions): Promise<FileCheck> {
  const recorder = new FileCheckRecorder(def, uri, options);
  const open = options.open;
  if (!open) throw new Error('checking a DynamoDB export needs to open its manifest and data files');
  let summary: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(await readAll(source));
    if (!isObject(parsed)) throw new Error('not an object');
    summary = parsed;
  } catch (err) {
    return recorder.unreadable(1, `not a DynamoDB export summary: ${(err as Error).message}`);
  }
  if (summary.outputFormat !== undefined && summary.outputFormat !== 'DYNAMODB_JSON') {
    return recorder.unreadable(1, `export format ${JSON.stringify(summary.outputFormat)} is not read: export as DYNAMODB_JSON`);
  }
  const incremental = summary.exportType === 'INCREMENTAL_EXPORT';
  if (summary.exportType !== undefined && summary.exportType !== 'FULL_EXPORT' && !incremental) {
    return recorder.unreadable(1, `export type ${JSON.stringify(summary.exportType)} is not read`);
  }
  if (incremental && def.kind === 'snapshot') {
    return recorder.unreadable(
      1,
      'an incremental export holds changes, not the whole table: a snapshot table takes full exports (use kind cdc)',
    );
  }
  // A full export is as of exportTime; DynamoDB names an incremental export's window by exportFromTime and exportToTime.
  const timeField = incremental && summary.exportTime === undefined ? 'exportToTime' : 'exportTime';
  const stated = summary[timeField];
  const time = typeof stated === 'string' ? ISO_INSTANT.exec(stated) : null;
  if (!time) return recorder.unreadable(1, `${timeField} ${JSON.stringify(stated)} is not an ISO-8601 UTC instant`);
  const exportTime = `${time[1]} ${time[2]}.${(time[3] ?? '').padEnd(6, '0')}`;
  // A full export's items are as of its export time; an incremental export's changes carry their own write times
  // (an incremental export may hold none: a quiet window still has its time, for the MERGE).
  if (!incremental) recorder.commitTime(1, exportTime);

  const folder = uri.slice(0, uri.length - SUMMARY.length);
  const manifest = await readManifest(open, folder + FILES_MANIFEST);
  if ('problem' in manifest) return recorder.unreadable(1, manifest.problem);
  let items = 0;
  const partRecords: Record<string, number> = {};
  for (const entry of manifest.files) {
    // The key names the file from AWSDynamoDB/ on (with or without the export's S3 prefix before it).
    const root = folder.slice(0, folder.lastIndexOf('AWSDynamoDB/') + 'AWSDynamoDB/'.length);
    const dataUri = root + entry.key.slice(entry.key.lastIndexOf('AWSDynamoDB/') + 'AWSDynamoDB/'.length);
    if (!dataUri.startsWith(`${folder}data/`)) {
      return recorder.unreadable(
        0,
        `data file ${dataUri} lies outside the export's folder: exports sharing a data folder are not read yet`,
      );
    }
    recorder.problemPrefix = `data file ${dataUri}: `;
    let data: Readable;
    try {
      data = await open(dataUri);
    } catch (err) {
      if ((err as { name?: string }).name !== 'NoSuchKey') throw err;
      return recorder.unreadable(0, 'is missing: the export is incomplete, nothing was merged');
    }
    let fileItems = 0;
    const unreadable = await readJsonLines(data, recorder, (value, r, line) => {
      fileItems++;
      if (incremental) checkIncrementalRecord(def, r, line, value);
      else checkItem(def, r, line, value);
    });
    if (unreadable) return recorder.unreadable(unreadable.line, unreadable.problem);
    if (entry.itemCount !== undefined && fileItems !== entry.itemCount) {
      recorder.report(0, `holds ${fileItems} items, ${FILES_MANIFEST} says ${entry.itemCount}: the file is incomplete`);
    }
    items += fileItems;
    partRecords[dataUri] = fileItems;
  }
  recorder.problemPrefix = '';
  if (typeof summary.itemCount === 'number' && items !== summary.itemCount) {
    recorder.report(1, `the data files hold ${items} items, the summary says ${summary.itemCount}: the export is incomplete`);
  }
  return { ...recorder.result(), exportTime, partRecords };
}

/** `manifest-files.json`: one JSON line per data file, `{"itemCount": n, "dataFileS3Key": "..."}`. */
async function readManifest(
  open: (uri: string) => Promise<Readable>,
  uri: string,
): Promise<{ files: { key: string; itemCount?: number }[] } | { problem: string }> {
  let text: string;
  try {
    text = await readAll(await open(uri));
  } catch (err) {
    if ((err as { name?: string }).name !== 'NoSuchKey') throw err;
    return { problem: `${uri} is missing: the export is incomplete, nothing was merged` };
  }
  const files: { key: string; itemCount?: number }[] = [];
  for (const [i, line] of text.split(/\r?\n/).entries()) {
    if (line.trim() === '') continue;
    try {
      const entry: unknown = JSON.parse(line);
      if (!isObject(entry) || typeof entry.dataFileS3Key !== 'string' || !entry.dataFileS3Key.includes('AWSDynamoDB/'))
        throw new Error('no dataFileS3Key under AWSDynamoDB/');
      files.push({ key: entry.dataFileS3Key, itemCount: typeof entry.itemCount === 'number' ? entry.itemCount : undefined });
    } catch {
      return { problem: `${uri} line ${i + 1}: not a manifest entry (not JSON)` };
    }
  }
  return { files };
}

function checkItem(def: TableDefinition, recorder: FileCheckRecorder, line: number, record: unknown): void {
  if (!isObject(record) || !isObject(record.Item)) return recorder.report(line, 'not an export item (expected {"Item": {...}})');
  recorder.row();
  const item = record.Item;
  for (const column of def.columns) {
    const key = def.primaryKey.includes(column.name);
    const attribute = item[fieldOf(column)];
    if (attribute === undefined) {
      if (key) recorder.report(line, `primary key column ${column.name} (attribute ${fieldOf(column)}) is missing`);
      continue;
    }
    checkAttribute(recorder, line, column, key, attribute, def.primaryKey[0]);
  }
}

/** An incremental export's line: Keys, NewImage (absent: deleted), OldImage (absent: inserted), and its write time. */
function checkIncrementalRecord(def: TableDefinition, recorder: FileCheckRecorder, line: number, record: unknown): void {
  const report = (problem: string) => recorder.report(line, problem);
  if (!isObject(record) || !isObject(record.Keys))
    return report('not an incremental export record (expected Keys, NewImage, OldImage, Metadata)');
  recorder.row();
  const op = !isObject(record.NewImage) ? 'D' : isObject(record.OldImage) ? 'U' : 'I';
  recorder.operation(line, op);
  const metadata = isObject(record.Metadata) ? record.Metadata : {};
  const micros = isObject(metadata.WriteTimestampMicros) ? metadata.WriteTimestampMicros.N : undefined;
  if (typeof micros !== 'string' || !/^\d{1,17}$/.test(micros)) {
    report('Metadata.WriteTimestampMicros is not an epoch time in microseconds');
  } else {
    const date = new Date(Number(BigInt(micros) / 1000n));
    recorder.commitTime(line, `${date.toISOString().slice(0, 19).replace('T', ' ')}.${micros.slice(-6).padStart(6, '0')}`);
  }
  for (const column of def.columns) {
    const key = def.primaryKey.includes(column.name);
    if (op === 'D' && !key) continue;
    const attribute = (key ? record.Keys : (record.NewImage as Record<string, unknown>))[fieldOf(column)];
    if (attribute === undefined) {
      if (key) report(`primary key column ${column.name} (attribute ${fieldOf(column)}) is missing from Keys`);
      continue;
    }
    checkAttribute(recorder, line, column, key, attribute, def.primaryKey[0]);
  }
}
