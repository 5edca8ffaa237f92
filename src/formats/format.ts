import type { Readable } from 'node:stream';
import type { ChangeSource, CheckOptions, FileCheck } from '../changes/validate';
import type { ColumnType, TableDefinition } from '../config/schema';
import type { Dialect } from '../sql/dialect';
import type { ChangesMode } from '../sql/changes';

/**
 * Everything icetide knows about one kind of change file: which objects are such files, how the engine reads them
 * (a staging table over the raw files; the worker never becomes the data path), how a change's operation, commit
 * time, sequence and values are found in them, and how the worker checks a file before it is merged.
 */
export interface ChangeFormat {
  /** Whether a name under staging (relative to the location) is a change file of this format. */
  isChangeFile(relativeName: string): boolean;
  /**
   * Formats whose change is a folder (a DynamoDB export) name it by one file, written last (its manifest). Such a
   * batch takes one folder; the MERGE reads the folder's data files and cleanup removes the whole folder.
   */
  folder?: {
    /** The folder a change file stands for. */
    of(uri: string): string;
    /** Whether a name under staging belongs to such a folder (data files, other manifests): neither taken nor stray. */
    contains(relativeName: string): boolean;
  };
  /** The check reads the file by byte ranges (a Parquet footer, then row groups) instead of as a stream. */
  readsRanges?: true;
  /** CREATE statement of the external staging table over the staging location. */
  stagingTable(def: TableDefinition, dialect: Dialect): string;
  /** The staging table's columns, for schema changes: one the definition gains is added to it. */
  stagingColumns?(def: TableDefinition): { name: string; type: ColumnType }[];
  /** The staging table reads fields by position (CSV): a new column can only come last. */
  stagingByPosition?: true;
  /**
   * A SELECT over the listed files giving one row per change: `"$path"`, the operation as OP_COLUMN ('I' | 'U' |
   * 'D'), the commit time as COMMIT_TS_COLUMN (timestamp(6), UTC), SEQUENCE_COLUMN (text that sorts like the
   * format's position; '' when it has none) and every column, typed. Records that are not changes (Debezium's delete
   * tombstones) are left out. In `check` mode nothing fails: what does not convert reads as NULL (see ChangesMode),
   * and the engine's check of the batch (sql/check.ts) counts it before the MERGE reads the same in `merge` mode.
   */
  changes(def: TableDefinition, dialect: Dialect, batch: ChangeBatch, mode: ChangesMode): string;
  /**
   * Staging rows that are no record of the format at all (a CSV row short of fields, a line that is not JSON), as a
   * predicate over the staging table, and what to call them: the file accounting counts them.
   */
  malformed?(def: TableDefinition): { predicate: string; problem: string };
  /**
   * Whether the start of a file shows what the engine cannot see (CSV fields beyond the staging table's, which the
   * engine's reader drops): the worker reads the first record of each file, and explains a file where this holds.
   */
  blindSpot?(def: TableDefinition, head: Readable): Promise<boolean>;
  /** The staging rows `changes` reads, as a predicate on `"$path"`; by default the batch's files. */
  batchFilter?(batch: ChangeBatch): string;
  /**
   * Reads one file, streamed, and names records the MERGE would refuse or misread, by line: run only on a file the
   * engine's check refused, to explain it (the engine decides).
   */
  check(def: TableDefinition, uri: string, source: ChangeSource, options: CheckOptions): Promise<FileCheck>;
}

/** What the MERGE reads: the batch's change files, and for a folder format the export's time (from its manifest). */
export interface ChangeBatch {
  files: string[];
  /** `yyyy-MM-dd HH:mm:ss.ffffff` */
  exportTime?: string;
}
