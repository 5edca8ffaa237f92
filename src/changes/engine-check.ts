import type { TableDefinition } from '../config/schema';
import { formatOf } from '../formats/registry';
import { badValues } from '../sql/check';
import { normalizeTimestamp, type KeyRange } from './validate';

/** What the engine's check (sql/check.ts) and file accounting found in one file of a batch. */
export interface CheckedFile {
  /** Changes the MERGE reads from the file (Debezium's tombstones are none). */
  changes: number;
  /** Newest commit time, `yyyy-MM-dd HH:mm:ss.ffffff`. */
  maxCommitTs?: string;
  keyRange?: KeyRange;
  /** Why the MERGE would refuse or misread records of the file: kinds and counts, never values. */
  problems: string[];
}

type Row = Record<string, unknown>;

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/**
 * The engine's answer per file, as problems a user can act on. `malformed` holds the accounting's count of rows that
 * are no record of the format, per file.
 */
export function readBatchCheck(def: TableDefinition, rows: Row[], malformed: Map<string, number>, skew: string): Map<string, CheckedFile> {
  const files = new Map<string, CheckedFile>();
  const fileOf = (path: string) => files.get(path) ?? files.set(path, { changes: 0, problems: [] }).get(path)!;
  const what = formatOf(def).malformed?.(def).problem ?? 'rows that are no record of the format';
  for (const [path, n] of malformed) if (n > 0) fileOf(path).problems.push(`${n} ${what}`);
  const sequence = def.ordering.sequence ? `sequence column ${def.ordering.sequence}` : 'source position';
  for (const row of rows) {
    const file = fileOf(String(row.path));
    const count = (name: string) => Number(row[name] ?? 0);
    const problem = (n: number, text: string) => n > 0 && file.problems.push(text);
    file.changes = count('changes');
    if (row.max_commit_ts !== null && row.max_commit_ts !== undefined) file.maxCommitTs = normalizeTimestamp(String(row.max_commit_ts));
    if (row.key_min !== null && row.key_min !== undefined && row.key_max !== null && row.key_max !== undefined) {
      file.keyRange = { column: def.primaryKey[0], min: String(row.key_min), max: String(row.key_max) };
    }
    problem(count('bad_op'), `${plural(count('bad_op'), 'change')} without an operation of the format`);
    problem(
      count('not_insert'),
      `${plural(count('not_insert'), 'update or delete', 'updates or deletes')}: an append table takes inserts only (use kind cdc)`,
    );
    problem(count('bad_commit'), `${plural(count('bad_commit'), 'change')} without a valid commit time`);
    problem(
      count('missing_key'),
      `${plural(count('missing_key'), 'change')} without a value for the primary key (${def.primaryKey.join(', ')})`,
    );
    problem(count('bad_sequence'), `${plural(count('bad_sequence'), 'change')} whose ${sequence} is missing or not a non-negative integer`);
    def.columns.forEach((c, i) => {
      const n = count(badValues(i));
      problem(n, `column ${c.name}: ${plural(n, 'value')} that do${n === 1 ? 'es' : ''} not convert to ${c.type}`);
    });
    problem(
      count('future'),
      `${plural(count('future'), 'commit time')} more than ${skew} (limits.maxClockSkew) ahead of the worker clock: ` +
        'a forged or corrupt record would win against every later change of its key',
    );
    problem(
      count('too_late'),
      `${plural(count('too_late'), 'change')} older than the tombstone purge horizon: it could resurrect a deleted row`,
    );
  }
  return files;
}
