import { durationMillis } from '../config/duration';
import type { TableDefinition } from '../config/schema';
import type { ChangeFormat } from '../formats/format';
import type { StagedFile } from '../storage/staging';

/**
 * Files icetide reads as change files of the table's format; anything else in staging is reported and never
 * touched. Names (or folders) under staging that start with `_` or `.` are hidden from the engines' Hive readers:
 * merging such a file would read nothing from it and then delete it, so they are left alone like any other stray
 * object.
 */
export const isChangeFile = (uri: string, location: string, format: Pick<ChangeFormat, 'isChangeFile' | 'folder'>): boolean => {
  const relative = uri.slice(location.length);
  return uri.startsWith(location) && format.isChangeFile(relative) && !/(^|\/)[._]/.test(relative);
};

/** The last file a batch took, in arrival order: the retain mode's watermark. */
export interface FilePosition {
  lastModified: number;
  uri: string;
}

/**
 * How change files are put in order: by arrival (lastModified, then name), or by name alone where names sort by
 * arrival (S3 lists in name order, so a listing can start after a position).
 */
export type FileOrder = 'arrival' | 'key';

const compareNames = (a: FilePosition, b: FilePosition): number => (a.uri < b.uri ? -1 : a.uri > b.uri ? 1 : 0);

export const comparePosition = (a: FilePosition, b: FilePosition, order: FileOrder = 'arrival'): number =>
  order === 'key' ? compareNames(a, b) : a.lastModified - b.lastModified || compareNames(a, b);

/** Retain mode's order (undefined in other modes). Default: key for DMS formats (time-named files), else arrival. */
export const retainOrder = (def: TableDefinition): FileOrder | undefined =>
  def.cleanup.mode !== 'retain' ? undefined : (def.cleanup.order ?? (def.staging.format.startsWith('dms-') ? 'key' : 'arrival'));

/**
 * Retain mode by arrival: a file's LastModified is when its upload started (a multipart upload's initiation), not
 * when it became visible, so a large file can appear behind the position after a smaller one moved it on. Each run
 * therefore looks again at the settle window behind the position and takes what it has not taken there, by name.
 */
export interface RecentFiles {
  /** Where the window starts: every file at or before it was taken, or landed a whole window before the position. */
  from: FilePosition;
  /** The files taken after `from`, sorted. */
  names: string[];
}

/** How far behind the position retain mode by arrival looks again (cleanup.settle; default 1h). */
export const retainSettleMillis = (def: TableDefinition): number | undefined =>
  retainOrder(def) === 'arrival' && def.cleanup.mode === 'retain' ? durationMillis(def.cleanup.settle ?? '1h') : undefined;

const later = (a: FilePosition | undefined, b: FilePosition, order: FileOrder): FilePosition =>
  a && comparePosition(a, b, order) > 0 ? a : b;

export interface BatchBounds {
  /** The table's staging location (s3://bucket/prefix/). */
  location: string;
  /** Which names are change files (and, for a folder format, which belong to one). */
  format: Pick<ChangeFormat, 'isChangeFile' | 'folder'>;
  /** Only files that landed at or before the cutoff (ms since epoch); a file still being written is newer. */
  cutoff: number;
  /** Retain mode: only files after this position. */
  after?: FilePosition;
  /** Retain mode by arrival: also the files of the settle window behind the position not taken yet. */
  recent?: RecentFiles;
  /** arrival (default): oldest first. key: in name order, stopping at the first file newer than the cutoff. */
  order?: FileOrder;
  maxFiles: number;
  maxBytes: number;
  /** Budget for the file list inside the MERGE text (Athena caps a query at 262,144 bytes). */
  maxListBytes: number;
}

export interface Selection {
  files: StagedFile[];
  /** Change files newer than the cutoff or beyond the bounds: left for a later batch. */
  deferred: number;
  /** When the longest-waiting of them landed (ms since epoch). */
  oldestDeferred?: number;
  /** Objects in staging that are not change files. */
  ignored: string[];
}

/**
 * The oldest change files first (arrival, then name), within the bounds. A single file larger than maxBytes still
 * forms a batch of its own, so no file can block the table forever.
 */
export function selectBatch(listing: StagedFile[], bounds: BatchBounds): Selection {
  const order = bounds.order ?? 'arrival';
  const changeFile = (f: StagedFile) => isChangeFile(f.uri, bounds.location, bounds.format);
  const inFolder = (f: StagedFile) => !!bounds.format.folder?.contains(f.uri.slice(bounds.location.length));
  const ignored = listing.filter((f) => !changeFile(f) && !inFolder(f)).map((f) => f.uri);
  // A folder format's change is a whole export: one per batch, however small.
  const maxFiles = bounds.format.folder ? 1 : bounds.maxFiles;
  // A watermark from before the settle window has none yet: it starts at the position.
  const from = order === 'arrival' && bounds.recent ? bounds.recent.from : bounds.after;
  const alreadyTaken = new Set(bounds.recent?.names);
  const waiting = listing
    .filter((f) => changeFile(f) && (!from || comparePosition(f, from, order) > 0) && !alreadyTaken.has(f.uri))
    .sort((a, b) => comparePosition(a, b, order));
  const files: StagedFile[] = [];
  let bytes = 0;
  let listBytes = 0;
  for (const file of waiting) {
    if (file.lastModified > bounds.cutoff) {
      // In name order a later name must not overtake a file still landing: the position would pass it for good.
      if (order === 'key') break;
      continue;
    }
    const entryBytes = Buffer.byteLength(file.uri) + 4; // quotes, comma, space
    const fits = files.length < maxFiles && bytes + file.size <= bounds.maxBytes && listBytes + entryBytes <= bounds.maxListBytes;
    if (!fits && files.length > 0) break;
    files.push(file);
    bytes += file.size;
    listBytes += entryBytes;
  }
  const taken = new Set(files);
  const left = waiting.filter((f) => !taken.has(f));
  // A loop, not Math.min(...): a listing can hold hundreds of thousands of files.
  const oldestDeferred = left.reduce<number | undefined>(
    (oldest, f) => (oldest === undefined || f.lastModified < oldest ? f.lastModified : oldest),
    undefined,
  );
  return { files, deferred: left.length, ...(oldestDeferred !== undefined && { oldestDeferred }), ignored };
}

/**
 * The settle window after `files` are merged: it ends at the new position and starts a settle period before it (never
 * earlier than it started before); it names the files taken in it that are still listed.
 */
export function settleWindow(
  listing: StagedFile[],
  files: StagedFile[],
  bounds: Pick<BatchBounds, 'after' | 'recent'>,
  settleMillis: number,
): RecentFiles | undefined {
  const position = files.reduce<FilePosition | undefined>((p, f) => later(p, f, 'arrival'), bounds.after);
  if (!position) return undefined;
  const start = { lastModified: position.lastModified - settleMillis, uri: '' };
  const from = later(bounds.recent?.from ?? bounds.after, start, 'arrival');
  const taken = new Set([...(bounds.recent?.names ?? []), ...files.map((f) => f.uri)]);
  const names = listing
    .filter((f) => taken.has(f.uri) && comparePosition(f, from) > 0)
    .map((f) => f.uri)
    .sort();
  return { from: { lastModified: from.lastModified, uri: from.uri }, names };
}
