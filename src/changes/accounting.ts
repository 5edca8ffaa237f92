/** A file the batch is to merge: its listed size, and the records the worker's check found in it (when it read it). */
export interface ListedFile {
  uri: string;
  size: number;
  records?: number;
}

/** What the engine read of one file, with the filter the MERGE uses. */
export interface EngineFileRead {
  path: string;
  size: number;
  rows: number;
}

const CAUSES =
  'the engine cannot read it where it lies: a sub-folder on a Hive catalog without hive.recursive-directories=true, ' +
  'a name the engine treats as hidden (starting with _ or .), a staging table whose location or format does not match the files';

/**
 * The listed files the engine did not read as listed, each with why. A file it did not see is fine only when it holds
 * no records (an empty file, a gzip of nothing, a Parquet file without rows); one it saw at another size was replaced
 * after it was listed. A file nobody listed is never the batch's (the engine's answer is limited to the listed paths).
 */
export function unaccountedFiles(listed: ListedFile[], read: EngineFileRead[]): { uri: string; problem: string }[] {
  const seen = new Map(read.map((r) => [r.path, r]));
  const problems: { uri: string; problem: string }[] = [];
  for (const file of listed) {
    const engine = seen.get(file.uri);
    if (!engine) {
      if (file.size === 0 || file.records === 0) continue;
      const what = file.records === undefined ? `${file.size} bytes` : `${file.records} record${file.records === 1 ? '' : 's'}`;
      problems.push({ uri: file.uri, problem: `listed with ${what}, but the engine read nothing of it: ${CAUSES}` });
    } else if (engine.size !== file.size) {
      problems.push({
        uri: file.uri,
        problem: `listed at ${file.size} bytes, but the engine read it at ${engine.size} bytes: it was replaced while the batch was planned`,
      });
    }
  }
  return problems;
}
