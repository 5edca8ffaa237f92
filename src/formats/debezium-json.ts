import type { FileCheckRecorder } from '../changes/validate';
import type { TableDefinition } from '../config/schema';
import { quoteIdent } from '../sql/identifiers';
import { renderChangesSelect, renderOpMapping, renderPaddedDigits, renderPathIn } from '../sql/changes';
import { isObject } from '../config/json';
import { PATH_COLUMN } from '../sql/metadata';
import type { ChangeFormat } from './format';
import {
  castJsonText,
  checkJsonLines,
  fieldOf,
  isJsonLinesFile,
  jsonLinesStagingTable,
  jsonPath,
  jsonLinesMalformed,
  jsonRecords,
  jsonText,
  jsonValueProblem,
} from './json-lines';

const OPS: Record<string, 'I' | 'U' | 'D'> = { c: 'I', r: 'I', u: 'U', d: 'D' };

/** Widths that make the position's numbers sort as numbers (an LSN or a binlog offset fits 20 digits). */
const POSITION_WIDTH = 20;
const ROW_WIDTH = 10;

/**
 * Debezium change events as JSON lines (the S3 sink, Debezium Server), with or without the `schema`/`payload`
 * wrapper. `op` c (create) and r (snapshot read) insert, u updates, d deletes; values come from `after`, a delete's
 * key from `before`. The null line that follows a delete (Kafka's tombstone) is skipped.
 * Ordering: `source.ts_ms` (the commit time), then the source's position: Postgres `source.lsn`, MySQL
 * `source.file`, `source.pos`, `source.row`. Snapshot reads (`r`) are initial copies.
 * Values: JSON scalars cast to the column's type; dates may be days since 1970-01-01 (io.debezium.time.Date),
 * timestamps epoch microseconds (MicroTimestamp) or ISO-8601 (ZonedTimestamp); decimals need
 * `decimal.handling.mode` string or double (the default, base64 bytes, is refused by name).
 */
export const debeziumJson: ChangeFormat = {
  isChangeFile: isJsonLinesFile,
  stagingTable: jsonLinesStagingTable,
  malformed: () => jsonLinesMalformed,

  changes(def, dialect, { files }, mode) {
    const q = quoteIdent;
    const e = 'e';
    const text = (...path: string[]) => jsonText(e, jsonPath(...path));
    const op = renderOpMapping(text('op'), OPS);
    const commitTs = `CAST(from_unixtime_nanos(CAST(${text('source', 'ts_ms')} AS bigint) * 1000000) AT TIME ZONE 'UTC' AS timestamp(6))`;
    const padded = (path: string[], width: number) => renderPaddedDigits(text(...path), width, true);
    const sequence = [
      padded(['source', 'lsn'], POSITION_WIDTH),
      `coalesce(${text('source', 'file')}, '')`,
      padded(['source', 'pos'], POSITION_WIDTH),
      padded(['source', 'row'], ROW_WIDTH),
    ].join(' || ');
    const columns = def.columns.map((c) => {
      const after = jsonText(e, jsonPath('after', fieldOf(c)), c.type === 'string');
      // A delete carries its key in `before` only.
      const given = def.primaryKey.includes(c.name)
        ? `coalesce(${after}, ${jsonText(e, jsonPath('before', fieldOf(c)), c.type === 'string')})`
        : after;
      return { name: c.name, value: castJsonText(given, c.type, 'micros'), given };
    });
    const envelopes = `SELECT ${q(PATH_COLUMN)}, coalesce(json_extract(j, '$.payload'), j) AS ${e} FROM (${jsonRecords(def, dialect, renderPathIn(files), mode)}) AS records`;
    return renderChangesSelect({
      op,
      commitTs,
      sequence,
      initial: `${text('op')} = 'r'`,
      columns,
      from: `(${envelopes}) AS envelopes`,
      where: `${text('op')} IS NOT NULL`,
      mode,
    });
  },

  check: (def, uri, source, options) =>
    checkJsonLines(def, uri, source, options, (value, recorder, line) => checkEvent(def, recorder, line, value)),
};

const isPosition = (v: unknown, width: number) => v === undefined || v === null || (/^\d+$/.test(String(v)) && String(v).length <= width);
const utc = (ms: number) => new Date(ms).toISOString().replace('T', ' ').replace('Z', '000');

function checkEvent(def: TableDefinition, recorder: FileCheckRecorder, line: number, record: unknown): void {
  const report = (problem: string) => recorder.report(line, problem);
  const envelope = isObject(record) && 'payload' in record ? record.payload : record;
  if (envelope === null) return; // the tombstone after a delete
  if (!isObject(envelope)) return report('not a Debezium change event (expected a JSON object with op, before, after, source)');
  recorder.row();
  const op = OPS[String(envelope.op)];
  if (!op) {
    const why = envelope.op === 't' ? 'truncate events are not applied: truncate the table by hand' : 'expected c, r, u or d';
    report(`unknown op (${why})`);
    return;
  }
  recorder.operation(line, op);
  const source = isObject(envelope.source) ? envelope.source : {};
  const tsMs = source.ts_ms;
  if (typeof tsMs !== 'number' || !Number.isInteger(tsMs) || tsMs < 0 || tsMs >= 253402300800000) {
    report('source.ts_ms is not a commit time in epoch milliseconds');
  } else recorder.commitTime(line, utc(tsMs));
  for (const [field, width] of [
    ['lsn', POSITION_WIDTH],
    ['pos', POSITION_WIDTH],
    ['row', ROW_WIDTH],
  ] as const) {
    if (!isPosition(source[field], width)) report(`source.${field} is not a non-negative integer of at most ${width} digits`);
  }
  const image = op === 'D' ? envelope.before : envelope.after;
  if (!isObject(image)) {
    const hint = op === 'D' ? ' (a delete needs its key in before: REPLICA IDENTITY on Postgres)' : '';
    report(`${op === 'D' ? 'before' : 'after'} is not an object${hint}`);
    return;
  }
  for (const column of def.columns) {
    const key = def.primaryKey.includes(column.name);
    if (op === 'D' && !key) continue;
    const value = image[fieldOf(column)];
    if (key) {
      if (value === null || value === undefined) {
        report(`primary key column ${column.name} is null`);
        continue;
      }
      if (column.name === def.primaryKey[0]) recorder.firstKey(value);
    }
    const problem = jsonValueProblem(column.type, value, 'micros');
    if (problem) report(`column ${column.name}: ${problem}${hintFor(column.type, value)}`);
  }
}

/** Debezium's default decimal encoding is base64 bytes: say which setting reads it as a number. */
const hintFor = (type: string, value: unknown): string =>
  type.startsWith('decimal') && typeof value === 'string' ? " (set the connector's decimal.handling.mode to string or double)" : '';
