import { ApplicationFailure, Context } from '@temporalio/activity';
import { unaccountedFiles, type ListedFile } from '../changes/accounting';
import { widenKeyRange } from '../changes/validate';
import { readBatchCheck, type CheckedFile } from '../changes/engine-check';
import type { TableDefinition } from '../config/schema';
import { exportDataFolder } from '../formats/dynamodb-export';
import type { ChangeBatch } from '../formats/format';
import { formatOf, renderBatchFilter } from '../formats/registry';
import { tableName } from '../shared';
import { renderFileAccounting } from '../sql/accounting';
import { renderBatchCheck, type CommitHorizon } from '../sql/check';
import { renderOrderingTies } from '../sql/ties';
import type { ActivityDeps } from './deps';
import { whileWaiting } from './query';

/**
 * The engine judges a batch before its MERGE, reading exactly what the MERGE will read: first every listed file must
 * be read as listed (accountForEveryFile), then one check counts per file what the MERGE would refuse or misread
 * (sql/check.ts). Files with problems are then explained by the worker (the only time it reads a file's bytes).
 */
export async function checkBatch(
  deps: ActivityDeps,
  def: TableDefinition,
  batch: ChangeBatch,
  listed: ListedFile[],
  partRecords: Record<string, number>,
  horizon: CommitHorizon,
  countRecords: (uri: string) => Promise<number | undefined>,
): Promise<{ files: Map<string, CheckedFile>; scannedBytes: number[] }> {
  const accounting = await accountForEveryFile(deps, def, batch, listed, partRecords, countRecords);
  const check = renderBatchCheck(def, deps.dialect, batch, horizon);
  const { rows, stats } = await whileWaiting(`table ${tableName(def)}: checking the changes of the batch`, (signal) =>
    deps.engine.read(check, signal),
  );
  const files = readBatchCheck(def, rows, accounting.malformed, def.limits.maxClockSkew);
  return {
    files: formatOf(def).folder ? byExport(batch.files, files) : files,
    scannedBytes: [accounting.scannedBytes, stats.scannedBytes],
  };
}

/**
 * A folder format's batch file is an export's summary, while the engine reads (and answers for) its data files: each
 * export's answer is that of its data files together, problems named by data file.
 */
function byExport(summaries: string[], dataFiles: Map<string, CheckedFile>): Map<string, CheckedFile> {
  return new Map(
    summaries.map((summary) => {
      const folder = exportDataFolder(summary);
      const parts = [...dataFiles].filter(([path]) => path.startsWith(folder));
      const whole: CheckedFile = {
        changes: parts.reduce((sum, [, part]) => sum + part.changes, 0),
        problems: parts.flatMap(([path, part]) => part.problems.map((p) => `${path.slice(folder.length)}: ${p}`)),
      };
      for (const [, part] of parts) {
        if (part.maxCommitTs && (!whole.maxCommitTs || part.maxCommitTs > whole.maxCommitTs)) whole.maxCommitTs = part.maxCommitTs;
        whole.keyRange = widenKeyRange(whole.keyRange, part.keyRange);
      }
      return [summary, whole];
    }),
  );
}

/**
 * One engine read over exactly what the MERGE will read (its staging table and `"$path"` filter) must have seen every
 * listed file, at its listed size. Otherwise the batch is bad input: the MERGE would succeed without those changes
 * and cleanup would delete them. A folder format's listed files are its data files (the change file, a summary, is
 * not read by the MERGE), with the records the worker found in each. A file the engine read nothing of is counted by
 * the worker (`countRecords`): a gzip of nothing is fine. Returns the rows of each file that are no record of the
 * format.
 */
async function accountForEveryFile(
  deps: ActivityDeps,
  def: TableDefinition,
  batch: ChangeBatch,
  listed: ListedFile[],
  partRecords: Record<string, number>,
  countRecords: (uri: string) => Promise<number | undefined>,
): Promise<{ malformed: Map<string, number>; scannedBytes: number }> {
  const folder = formatOf(def).folder;
  // DynamoDB writes an empty file per empty partition: the worker read the export, so it knows which hold none.
  const expected = folder
    ? (await Promise.all(batch.files.map((f) => deps.staging.list(exportDataFolder(f)))))
        .flat()
        .map((f) => ({ uri: f.uri, size: f.size, records: partRecords[f.uri] }))
    : listed;
  const accounting = renderFileAccounting(def, deps.dialect, renderBatchFilter(def, batch));
  const { rows, stats } = await whileWaiting(`table ${tableName(def)}: accounting for the files of the batch`, (signal) =>
    deps.engine.read(accounting, signal),
  );
  const read = rows.map((r) => ({ path: String(r.path), size: Number(r.size), rows: Number(r.rows) }));
  const seen = new Set(read.map((r) => r.path));
  const counted = await Promise.all(
    expected.map(async (f) =>
      seen.has(f.uri) || f.records !== undefined || f.size === 0 ? f : { ...f, records: await countRecords(f.uri) },
    ),
  );
  const problems = unaccountedFiles(counted, read);
  if (problems.length === 0) {
    return { malformed: new Map(rows.map((r) => [String(r.path), Number(r.malformed ?? 0)])), scannedBytes: stats.scannedBytes };
  }
  throw ApplicationFailure.nonRetryable(
    `table ${tableName(def)}: the engine did not read every listed change file, nothing was merged or deleted: ` +
      problems
        .slice(0, 10)
        .map((p) => `${p.uri}: ${p.problem}`)
        .join('; ') +
      (problems.length > 10 ? ` (and ${problems.length - 10} more)` : ''),
    'UnreadChangeFile',
  );
}

/**
 * A batch where changes of one key tie (see renderOrderingTies) is bad input: it names the files, never the keys.
 * Returns what the read scanned.
 */
export async function refuseOrderingTies(deps: ActivityDeps, def: TableDefinition, batch: ChangeBatch): Promise<number> {
  const ties = renderOrderingTies(def, deps.dialect, batch);
  const { rows, stats } = await whileWaiting(`table ${tableName(def)}: looking for ordering ties`, (signal) =>
    deps.engine.read(ties, signal),
  );
  if (rows.length === 0) return stats.scannedBytes;
  const where = rows.map((r) => `${String(r.path)} at ${String(r.commit_time)}: ${Number(r.keys)} key(s)`).join('; ');
  throw ApplicationFailure.nonRetryable(
    `table ${tableName(def)}: changes of one key share a commit time in one file and nothing orders them (${where}; key ` +
      `values withheld), nothing was merged: set ordering.sequence to the AR_H_CHANGE_SEQ column of DMS ` +
      `(add it in the task table mapping and to columns)`,
    'AmbiguousOrder',
  );
}

/**
 * Whether the check failed as a query the engine ran over the files (engines throw a plain Error for a failed query:
 * a Parquet file of another schema, storage it could not reach), to be explained by reading the files, rather than a
 * refused request (credentials, permissions) or a lost attempt.
 */
export const engineRefusedCheck = (err: unknown): boolean =>
  err instanceof ApplicationFailure && err.nonRetryable === true && err.type === 'Error' && !Context.current().cancellationSignal.aborted;
