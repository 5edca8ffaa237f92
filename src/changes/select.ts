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

export const comparePosition = (a: FilePosition, b: FilePosition): number =>
  a.lastModified - b.lastModified || (a.uri < b.uri ? -1 : a.uri > b.uri ? 1 : 0);

export interface BatchBounds {
  /** The table's staging location (s3://bucket/prefix/). */
  location: string;
  /** Which names are change files (and, for a folder format, which belong to one). */
  format: Pick<ChangeFormat, 'isChangeFile' | 'folder'>;
  /** Only files that landed at or before the cutoff (ms since epoch); a file still being written is newer. */
  cutoff: number;
  /** Retain mode: only files after this position. */
  after?: FilePosition;
  maxFiles: number;
  maxBytes: number;
  /** Budget for the file list inside the MERGE text (Athena caps a query at 262,144 bytes). */
  maxListBytes: number;
}

export interface Selection {
  files: StagedFile[];
  /** Change files newer than the cutoff or beyond the bounds: left for a later batch. */
  deferred: number;
  /** Objects in staging that are not change files. */
  ignored: string[];
}

/**
 * The oldest change files first (arrival, then name), within the bounds. A single file larger than maxBytes still
 * forms a batch of its own, so no file can block the table forever.
 */
export function selectBatch(listing: StagedFile[], bounds: BatchBounds): Selection {
  const changeFile = (f: StagedFile) => isChangeFile(f.uri, bounds.location, bounds.format);
  const inFolder = (f: StagedFile) => !!bounds.format.folder?.contains(f.uri.slice(bounds.location.length));
  const ignored = listing.filter((f) => !changeFile(f) && !inFolder(f)).map((f) => f.uri);
  // A folder format's change is a whole export: one per batch, however small.
  const maxFiles = bounds.format.folder ? 1 : bounds.maxFiles;
  const candidates = listing
    .filter((f) => changeFile(f) && f.lastModified <= bounds.cutoff)
    .filter((f) => !bounds.after || comparePosition(f, bounds.after) > 0)
    .sort(comparePosition);
  const files: StagedFile[] = [];
  let bytes = 0;
  let listBytes = 0;
  for (const file of candidates) {
    const entryBytes = Buffer.byteLength(file.uri) + 4; // quotes, comma, space
    const fits = files.length < maxFiles && bytes + file.size <= bounds.maxBytes && listBytes + entryBytes <= bounds.maxListBytes;
    if (!fits && files.length > 0) break;
    files.push(file);
    bytes += file.size;
    listBytes += entryBytes;
  }
  const waiting = listing.filter((f) => changeFile(f) && (!bounds.after || comparePosition(f, bounds.after) > 0));
  return { files, deferred: waiting.length - files.length, ignored };
}
