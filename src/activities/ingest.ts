import { ApplicationFailure, Context } from '@temporalio/activity';
import { widenKeyRange, type KeyRange } from '../changes/validate';
import { checkChangeFile, formatOf } from '../formats/registry';
import { selectBatch, type FilePosition } from '../changes/select';
import type { TableDefinition } from '../config/schema';
import type { QueryHandle } from '../engines/engine';
import { renderMerge } from '../sql/merge';
import { tableName, type BatchPlan, type QuarantinedFile } from '../shared';
import { failFastOnPermanent } from './failures';
import type { ActivityDeps } from './deps';
import { submitStatement } from './query';

/** Change files read at once while planning. */
const READ_CONCURRENCY = 4;

/** Athena rejects queries over 262,144 bytes; keep the file list well inside, leaving room for the MERGE itself. */
const MAX_FILE_LIST_BYTES = 200_000;

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
        const listing = await staging.list(def.staging.location);
        const selection = selectBatch(listing, {
          location: def.staging.location,
          format: formatOf(def),
          cutoff: input.cutoff,
          after: def.cleanup.mode === 'retain' ? input.after : undefined,
          maxFiles: def.batch.maxFiles,
          maxBytes: def.batch.maxBytes,
          maxListBytes: MAX_FILE_LIST_BYTES,
        });
        const plan: BatchPlan = {
          files: [],
          bytes: 0,
          rows: 0,
          emptyFiles: 0,
          deferredFiles: selection.deferred,
          ignoredFiles: selection.ignored.slice(0, 20),
          quarantined: [],
        };
        // Several files at once, each streamed: memory stays bounded by READ_CONCURRENCY, not by file sizes.
        const checks = await mapConcurrently(selection.files, READ_CONCURRENCY, async (file) => {
          deps.failpoint?.('plan-read');
          const heartbeat = () => Context.current().heartbeat();
          const source = formatOf(def).readsRanges ? staging.ranges(file.uri, file.size) : await staging.open(file.uri);
          const check = await checkChangeFile(def, file.uri, source, {
            purgedThrough: input.purgedThrough,
            open: (uri) => staging.open(uri),
            onProgress: heartbeat, // a file of any size keeps the activity alive while it is read
          });
          heartbeat();
          return check;
        });
        for (const [i, file] of selection.files.entries()) {
          const check = checks[i];
          if (check.problems.length > 0) {
            const detail = check.problems.map((p) => (p.line > 0 ? `line ${p.line}: ${p.problem}` : p.problem)).join('; ');
            if (def.badInput === 'fail') {
              throw ApplicationFailure.nonRetryable(
                `table ${tableName(def)}: change file ${file.uri} has bad rows, nothing was merged: ${detail}`,
                'BadChangeFile',
              );
            }
            const movedTo = quarantineLocation(def);
            await staging.move([file.uri], def.staging.location, movedTo);
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
          if (formatOf(def).folder) plan.exportTime = check.maxCommitTs;
        }
        // Quarantined files count as passed: the retain mode's position moves over them too.
        const lastTaken = selection.files.at(-1);
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
      token: string;
    }): Promise<QueryHandle> {
      const sql = renderMerge(input.table, dialect, input.files, { keyRange: input.keyRange, exportTime: input.exportTime });
      deps.failpoint?.('before-submit');
      return submitStatement(deps, `table ${tableName(input.table)}: submitting the MERGE`, sql, input.token);
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
