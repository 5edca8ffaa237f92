import { ApplicationFailure, Context } from '@temporalio/activity';
import { widenKeyRange, type FileCheck } from '../changes/validate';
import type { CheckedFile } from '../changes/engine-check';
import { checkChangeFile, formatOf } from '../formats/registry';
import { changesCanTie } from '../sql/ties';
import { durationMillis } from '../config/duration';
import {
  isChangeFile,
  retainOrder,
  retainSettleMillis,
  selectBatch,
  settleWindow,
  type BatchBounds,
  type FilePosition,
  type RecentFiles,
} from '../changes/select';
import type { TableDefinition } from '../config/schema';
import { filesThatFit } from '../sql/merge';
import { tableName, type BatchPlan, type QuarantinedFile } from '../shared';
import { failFastOnPermanent } from './failures';
import type { StagedFile } from '../storage/staging';
import type { ActivityDeps } from './deps';
import { checkBatch, engineRefusedCheck, refuseOrderingTies } from './batch-check';
import { mergedObjects } from './ingest';

/** Change files read at once while explaining (or, for an export, reading) them. */
const READ_CONCURRENCY = 4;

export const quarantineLocation = (def: TableDefinition): string => def.staging.location.replace(/\/$/, '__quarantine/');

/** Planning a batch: choose its files, have the engine check them, set aside or refuse bad ones. */
export function createPlanActivities(deps: ActivityDeps) {
  const { dialect, staging } = deps;

  return {
    /**
     * Picks the batch and has the engine check it before anything is merged (see checkBatch): a file with bad records
     * fails the batch (naming file, line where the worker can tell, and problem) or, in quarantine mode, is sent aside
     * whole. Planning reads no file's bytes unless it has to explain one.
     */
    async planBatch(input: {
      table: TableDefinition;
      cutoff: number;
      after?: FilePosition;
      recent?: RecentFiles;
      purgedThrough?: string;
    }): Promise<BatchPlan> {
      const def = input.table;
      return failFastOnPermanent(`table ${tableName(def)}: planning a batch`, async () => {
        const bounds: BatchBounds = {
          location: def.staging.location,
          format: formatOf(def),
          cutoff: input.cutoff,
          after: def.cleanup.mode === 'retain' ? input.after : undefined,
          recent: def.cleanup.mode === 'retain' ? input.recent : undefined,
          order: retainOrder(def),
          maxFiles: def.batch.maxFiles,
          maxBytes: def.batch.maxBytes,
          // A first cut; filesThatFit then sizes the whole rendered MERGE.
          maxListBytes: dialect.maxStatementBytes,
        };
        const listing = await listForBatch(staging, bounds);
        const selection = selectBatch(listing, bounds);
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
        // The worker reads a file's bytes only to explain it (naming lines), or for a folder format, whose summary holds
        // the export's time and whose data files' records the accounting needs. Streamed, a few files at once: memory
        // stays bounded by READ_CONCURRENCY, not by file sizes.
        const read = new Map<string, FileCheck>();
        const readAll = async (toRead: StagedFile[]) => {
          const checks = await mapConcurrently(toRead, READ_CONCURRENCY, async (file) => {
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
          toRead.forEach((file, i) => read.set(file.uri, checks[i]));
        };
        if (formatOf(def).folder) await readAll(files);
        const exportTime = files.map((f) => read.get(f.uri)?.exportTime).find((t) => t !== undefined);
        const workerRefused = (uri: string) => (read.get(uri)?.problems.length ?? 0) > 0;
        const toCheck = files.filter((f) => !workerRefused(f.uri));
        let engine = new Map<string, CheckedFile>();
        let engineChecked = true;
        if (toCheck.length > 0) {
          try {
            const listed = toCheck.map((f) => ({ uri: f.uri, size: f.size, records: read.get(f.uri)?.rows }));
            const partRecords = Object.assign({}, ...toCheck.map((f) => read.get(f.uri)?.partRecords ?? {})) as Record<string, number>;
            const horizon = { latest: latestCommitTs.at, purgedThrough: input.purgedThrough };
            const countRecords = async (uri: string) => {
              await readAll(toCheck.filter((f) => f.uri === uri));
              return read.get(uri)?.rows;
            };
            const batch = { files: toCheck.map((f) => f.uri), exportTime };
            const checked = await checkBatch(deps, def, batch, listed, partRecords, horizon, countRecords);
            engine = checked.files;
            plan.checkScannedBytes = checked.scannedBytes;
          } catch (err) {
            if (!engineRefusedCheck(err)) throw err;
            // The engine could not read the batch at all (a Parquet file of another schema): the worker reads every file
            // to name the bad ones. What it finds nothing wrong with waits for the next batch, checked by the engine.
            await readAll(toCheck.filter((f) => !read.has(f.uri)));
            // Nothing wrong in the files: the engine could not reach them (storage down), or its staging table no
            // longer matches them. Retried as transient, so an outage does not block the table; the workflow bounds it.
            if (!files.some((f) => workerRefused(f.uri))) {
              const message = `table ${tableName(def)}: the engine could not check the batch: ${(err as Error).message}`;
              throw ApplicationFailure.retryable(message, 'CheckUnread');
            }
            engineChecked = false;
          }
        }
        // The engine decides; the worker names the lines of the files it refused, when it can, and of those whose
        // start shows what the engine cannot see.
        const blindSpot = formatOf(def).blindSpot;
        const unseen = new Set<string>();
        if (blindSpot && engineChecked) {
          await mapConcurrently(toCheck, READ_CONCURRENCY, async (f) => {
            deps.failpoint?.('plan-read');
            if (await blindSpot(def, await staging.open(f.uri))) unseen.add(f.uri);
          });
        }
        const refusedByEngine = (uri: string) => (engine.get(uri)?.problems.length ?? 0) > 0;
        await readAll(files.filter((f) => !read.has(f.uri) && (refusedByEngine(f.uri) || unseen.has(f.uri))));
        for (const file of files) {
          const byEngine = (engine.get(file.uri)?.problems ?? []).map((problem) => ({ line: 0, problem }));
          const problems = workerRefused(file.uri) ? read.get(file.uri)!.problems : byEngine;
          if (problems.length > 0) {
            const detail = problems.map((p) => (p.line > 0 ? `line ${p.line}: ${p.problem}` : p.problem)).join('; ');
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
            const [first] = problems;
            plan.quarantined.push({
              uri: file.uri,
              movedTo: movedTo + file.uri.slice(def.staging.location.length),
              line: first.line,
              problem: first.problem,
            } satisfies QuarantinedFile);
            continue;
          }
          if (!engineChecked) {
            plan.deferredFiles++;
            continue;
          }
          const checked = engine.get(file.uri) ?? { changes: 0, problems: [] };
          plan.files.push(file.uri);
          plan.bytes += file.size;
          plan.rows += checked.changes;
          if (checked.changes === 0) plan.emptyFiles++;
          if (checked.maxCommitTs && (!plan.maxCommitTs || checked.maxCommitTs > plan.maxCommitTs)) plan.maxCommitTs = checked.maxCommitTs;
          plan.keyRange = widenKeyRange(plan.keyRange, checked.keyRange);
          if (formatOf(def).folder) plan.exportTime = exportTime;
        }
        if (plan.files.length > 0 && changesCanTie(def)) {
          plan.checkScannedBytes = [...(plan.checkScannedBytes ?? []), await refuseOrderingTies(deps, def, { files: plan.files })];
        }
        // Quarantined files count as passed: the retain mode's position moves over them too.
        const lastTaken = files.at(-1);
        if (lastTaken) plan.last = { lastModified: lastTaken.lastModified, uri: lastTaken.uri };
        const settle = retainSettleMillis(def);
        const recent = settle === undefined ? undefined : settleWindow(listing, files, bounds, settle);
        if (recent) plan.recent = recent;
        return plan;
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
