import { ApplicationFailure, Context } from '@temporalio/activity';
import { widenKeyRange, type KeyRange } from '../changes/validate';
import { checkChangeFile, formatOf, renderBatchFilter } from '../formats/registry';
import type { ChangeBatch } from '../formats/format';
import { exportDataFolder } from '../formats/dynamodb-export';
import { unaccountedFiles, type ListedFile } from '../changes/accounting';
import { renderFileAccounting } from '../sql/accounting';
import { changesCanTie, renderOrderingTies } from '../sql/ties';
import { durationMillis } from '../config/duration';
import { isChangeFile, retainOrder, selectBatch, type BatchBounds, type FilePosition } from '../changes/select';
import type { TableDefinition } from '../config/schema';
import type { QueryHandle } from '../engines/engine';
import { filesThatFit, renderMerge, renderMergeSource } from '../sql/merge';
import { renderPartitionSlices, type PartitionSlice } from '../sql/partitions';
import { tableName, type BatchPlan, type QuarantinedFile } from '../shared';
import { failFastOnPermanent } from './failures';
import type { StagedFile } from '../storage/staging';
import type { ActivityDeps } from './deps';
import { submitStatement, whileWaiting } from './query';

/** Change files read at once while planning. */
const READ_CONCURRENCY = 4;

export const quarantineLocation = (def: TableDefinition): string => def.staging.location.replace(/\/$/, '__quarantine/');

/** The I/O of one ingest batch: choose and check the files, submit the MERGE, clean up what it merged. */
export function createIngestActivities(deps: ActivityDeps) {
  const { dialect, staging } = deps;

  return {
    /**
     * Picks the batch and reads every file in it first: a bad row fails the batch (naming file and line) or, in
     * quarantine mode, sends its whole file aside, before anything is merged.
     */
    async planBatch(input: { table: TableDefinition; cutoff: number; after?: FilePosition; purgedThrough?: string }): Promise<BatchPlan> {
      const def = input.table;
      return failFastOnPermanent(`table ${tableName(def)}: planning a batch`, async () => {
        const bounds: BatchBounds = {
          location: def.staging.location,
          format: formatOf(def),
          cutoff: input.cutoff,
          after: def.cleanup.mode === 'retain' ? input.after : undefined,
          order: retainOrder(def),
          maxFiles: def.batch.maxFiles,
          maxBytes: def.batch.maxBytes,
          // A first cut; filesThatFit then sizes the whole rendered MERGE.
          maxListBytes: dialect.maxStatementBytes,
        };
        const selection = selectBatch(await listForBatch(staging, bounds), bounds);
        const fitting = filesThatFit(
          def,
          dialect,
          selection.files.map((f) => f.uri),
        );
        if (selection.files.length > 0 && fitting === 0) {
          throw ApplicationFailure.nonRetryable(
            `table ${tableName(def)}: a MERGE of even one change file (${selection.files[0].uri}) is longer than the engine's ` +
              `${dialect.maxStatementBytes}-byte statement limit: the definition has too many or too long columns`,
            'StatementTooLong',
          );
        }
        const files = selection.files.slice(0, fitting);
        const plan: BatchPlan = {
          files: [],
          bytes: 0,
          rows: 0,
          emptyFiles: 0,
          deferredFiles: selection.deferred + selection.files.length - fitting,
          oldestDeferred: earliest([selection.oldestDeferred, ...selection.files.slice(fitting).map((f) => f.lastModified)]),
          ignoredFiles: selection.ignored.slice(0, 20),
          quarantined: [],
        };
        const latestCommitTs = {
          at: new Date(Date.now() + durationMillis(def.limits.maxClockSkew)).toISOString().replace('T', ' ').replace('Z', '000'),
          skew: def.limits.maxClockSkew,
        };
        // Several files at once, each streamed: memory stays bounded by READ_CONCURRENCY, not by file sizes.
        const checks = await mapConcurrently(files, READ_CONCURRENCY, async (file) => {
          deps.failpoint?.('plan-read');
          const heartbeat = () => Context.current().heartbeat();
          const source = formatOf(def).readsRanges ? staging.ranges(file.uri, file.size) : await staging.open(file.uri);
          const check = await checkChangeFile(def, file.uri, source, {
            purgedThrough: input.purgedThrough,
            latestCommitTs,
            open: (uri) => staging.open(uri),
            onProgress: heartbeat, // a file of any size keeps the activity alive while it is read
          });
          heartbeat();
          return check;
        });
        for (const [i, file] of files.entries()) {
          const check = checks[i];
          if (check.problems.length > 0) {
            const detail = check.problems.map((p) => (p.line > 0 ? `line ${p.line}: ${p.problem}` : p.problem)).join('; ');
            // A definition applied before retain mode refused quarantine still never moves a file of a raw zone.
            if (def.badInput === 'fail' || def.cleanup.mode === 'retain') {
              throw ApplicationFailure.nonRetryable(
                `table ${tableName(def)}: change file ${file.uri} has bad rows, nothing was merged: ${detail}`,
                'BadChangeFile',
              );
            }
            const movedTo = quarantineLocation(def);
            // An export's data files go before its summary: a move cut short leaves an incomplete export, set aside again.
            for (const group of (await mergedObjects(staging, def, [file.uri])).reverse()) {
              await staging.move(group, def.staging.location, movedTo);
            }
            const [first] = check.problems;
            plan.quarantined.push({
              uri: file.uri,
              movedTo: movedTo + file.uri.slice(def.staging.location.length),
              line: first.line,
              problem: first.problem,
            } satisfies QuarantinedFile);
            continue;
          }
          plan.files.push(file.uri);
          plan.bytes += file.size;
          plan.rows += check.rows;
          if (check.rows === 0) plan.emptyFiles++;
          if (check.maxCommitTs && (!plan.maxCommitTs || check.maxCommitTs > plan.maxCommitTs)) plan.maxCommitTs = check.maxCommitTs;
          plan.keyRange = widenKeyRange(plan.keyRange, check.keyRange);
          if (formatOf(def).folder) plan.exportTime = check.exportTime;
        }
        if (plan.files.length > 0) {
          const merged = new Set(plan.files);
          const listed = files.flatMap((f, i) => (merged.has(f.uri) ? [{ uri: f.uri, size: f.size, records: checks[i].rows }] : []));
          const partRecords = Object.assign({}, ...checks.map((c) => c.partRecords ?? {})) as Record<string, number>;
          await accountForEveryFile(deps, def, { files: plan.files, exportTime: plan.exportTime }, listed, partRecords);
          if (changesCanTie(def)) await refuseOrderingTies(deps, def, { files: plan.files });
        }
        // Quarantined files count as passed: the retain mode's position moves over them too.
        const lastTaken = files.at(-1);
        if (lastTaken) plan.last = { lastModified: lastTaken.lastModified, uri: lastTaken.uri };
        return plan;
      });
    },

    /** Submits the batch's MERGE. The token is the run's and the submission's, so a retried start finds the same query. */
    async startMerge(input: {
      table: TableDefinition;
      files: string[];
      keyRange?: KeyRange;
      exportTime?: string;
      slice?: PartitionSlice;
      token: string;
    }): Promise<QueryHandle> {
      const { keyRange, exportTime, slice } = input;
      const sql = renderMerge(input.table, dialect, input.files, { keyRange, exportTime, slice });
      deps.failpoint?.('before-submit');
      return submitStatement(deps, `table ${tableName(input.table)}: submitting the MERGE`, sql, input.token);
    },

    /**
     * Cuts a batch whose changes span more partitions than one statement may write into slices of at most `budget`
     * partition keys: one read of the batch's changes (the MERGE's own source).
     */
    async planPartitionSlices(input: {
      table: TableDefinition;
      files: string[];
      keyRange?: KeyRange;
      exportTime?: string;
      budget: number;
    }): Promise<PartitionSlice[]> {
      const def = input.table;
      const source = renderMergeSource(def, dialect, input.files, { exportTime: input.exportTime });
      const what = `table ${tableName(def)}: cutting the batch into partition slices`;
      const { rows } = await whileWaiting(what, (signal) => deps.engine.read(renderPartitionSlices(def, source, input.budget), signal));
      return rows.map((row) => ({ first: String(row.first), last: String(row.last), partitions: Number(row.partitions) }));
    },

    /** Called only after the MERGE succeeded: delete (or archive) exactly the merged files. Safe to repeat. */
    async cleanupBatch(input: { table: TableDefinition; files: string[] }): Promise<void> {
      const def = input.table;
      if (def.cleanup.mode === 'retain') return;
      deps.failpoint?.('before-cleanup');
      const chunk = deps.cleanupChunk ?? 1000;
      await failFastOnPermanent(`table ${tableName(def)}: cleaning up merged files`, async () => {
        for (const group of await mergedObjects(staging, def, input.files)) {
          for (let i = 0; i < group.length; i += chunk) {
            const files = group.slice(i, i + chunk);
            if (def.cleanup.mode === 'archive') await staging.move(files, def.staging.location, def.cleanup.location);
            else await staging.delete(files);
            Context.current().heartbeat(i);
            deps.failpoint?.('cleanup-chunk');
          }
        }
      });
    },
  };
}

/**
 * The staging objects a batch is chosen from, a page (1,000 keys) at a time with a heartbeat each. The listing stops
 * once it holds more waiting change files than a batch takes, so planning follows the batch, not the prefix (a backlog
 * of 300,000 files is not listed whole each minute; the batch takes the oldest of what was listed). Retain mode in
 * name order starts after its position: what it has passed is never listed again. Retain mode in arrival order lists
 * everything: an unlisted file could have landed before the position the batch moves to, and would be passed for good.
 */
async function listForBatch(staging: ActivityDeps['staging'], bounds: BatchBounds): Promise<StagedFile[]> {
  const ctx = Context.current();
  const enough = bounds.order === 'arrival' ? Infinity : bounds.format.folder ? 2 : bounds.maxFiles + 1;
  const listing: StagedFile[] = [];
  let waiting = 0;
  let waitingBytes = 0;
  const startAfter = bounds.order === 'key' ? bounds.after?.uri : undefined;
  for await (const page of staging.pages(bounds.location, { startAfter })) {
    listing.push(...page);
    for (const file of page) {
      if (file.lastModified > bounds.cutoff || !isChangeFile(file.uri, bounds.location, bounds.format)) continue;
      waiting++;
      waitingBytes += file.size;
    }
    ctx.heartbeat();
    if (waiting >= enough || waitingBytes > bounds.maxBytes) break;
  }
  return listing;
}

/**
 * Before anything is merged (or deleted): one engine read over exactly what the MERGE will read (its staging table
 * and `"$path"` filter) must have seen every listed file, at its listed size. Otherwise the batch is bad input: the
 * MERGE would succeed without those changes and cleanup would delete them. A folder format's listed files are its
 * data files (the change file, a summary, is not read by the MERGE).
 */
async function accountForEveryFile(
  deps: ActivityDeps,
  def: TableDefinition,
  batch: ChangeBatch,
  listed: ListedFile[],
  partRecords: Record<string, number>,
): Promise<void> {
  const folder = formatOf(def).folder;
  // An export's data files as listed, with the records the check found (DynamoDB writes an empty file per empty partition).
  const expected = folder
    ? (await Promise.all(batch.files.map((f) => deps.staging.list(exportDataFolder(f)))))
        .flat()
        .map((f) => ({ uri: f.uri, size: f.size, records: partRecords[f.uri] }))
    : listed;
  const accounting = renderFileAccounting(def, deps.dialect, renderBatchFilter(def, batch));
  const { rows } = await whileWaiting(`table ${tableName(def)}: accounting for the files of the batch`, (signal) =>
    deps.engine.read(accounting, signal),
  );
  const read = rows.map((r) => ({ path: String(r.path), size: Number(r.size), rows: Number(r.rows) }));
  const problems = unaccountedFiles(expected, read);
  if (problems.length === 0) return;
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

/** A batch where changes of one key tie (see renderOrderingTies) is bad input: it names the files, never the keys. */
async function refuseOrderingTies(deps: ActivityDeps, def: TableDefinition, batch: ChangeBatch): Promise<void> {
  const ties = renderOrderingTies(def, deps.dialect, batch);
  const { rows } = await whileWaiting(`table ${tableName(def)}: looking for ordering ties`, (signal) => deps.engine.read(ties, signal));
  if (rows.length === 0) return;
  const where = rows.map((r) => `${String(r.path)} at ${String(r.commit_time)}: ${Number(r.keys)} key(s)`).join('; ');
  throw ApplicationFailure.nonRetryable(
    `table ${tableName(def)}: changes of one key share a commit time in one file and nothing orders them (${where}; key ` +
      `values withheld), nothing was merged: set ordering.sequence to the AR_H_CHANGE_SEQ column of DMS ` +
      `(add it in the task table mapping and to columns)`,
    'AmbiguousOrder',
  );
}

/**
 * The objects a batch's files stand for, in the order to remove them. A folder format's change file (an export's
 * summary) stands for its whole folder, and goes alone first: a cleanup cut short then never leaves a summary whose
 * data is gone (which would read as an incomplete export); a retry lists the folder again and finishes.
 */
async function mergedObjects(staging: ActivityDeps['staging'], def: TableDefinition, files: string[]): Promise<string[][]> {
  const folder = formatOf(def).folder;
  if (!folder) return [files];
  const groups: string[][] = [];
  for (const file of files) {
    const rest = (await staging.list(folder.of(file))).map((f) => f.uri).filter((uri) => uri !== file);
    groups.push([file], rest);
  }
  return groups;
}

const earliest = (times: (number | undefined)[]): number | undefined =>
  times.reduce<number | undefined>((oldest, t) => (t !== undefined && (oldest === undefined || t < oldest) ? t : oldest), undefined);

/** `fn` over `items` with at most `limit` calls in flight; results in the items' order. */
async function mapConcurrently<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
}
