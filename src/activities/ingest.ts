import { Context } from '@temporalio/activity';
import type { KeyRange } from '../changes/validate';
import { formatOf } from '../formats/registry';
import type { TableDefinition } from '../config/schema';
import type { QueryHandle } from '../engines/engine';
import { renderMerge, renderMergeSource } from '../sql/merge';
import { renderPartitionSlices, type PartitionSlice } from '../sql/partitions';
import { tableName, type QueryOutcome } from '../shared';
import { failFastOnPermanent } from './failures';
import type { ActivityDeps } from './deps';
import { submitAndFollow, submitStatement, whileWaiting, type AwaitQueryInput } from './query';

/** The I/O of a batch after planning (plan.ts): submit the MERGE (by partition slices if need be), clean up what it merged. */
export function createIngestActivities(deps: ActivityDeps) {
  const { dialect, staging } = deps;

  return {
    /** Submits the batch's MERGE (runs recorded before runMerge: submit and await apart). */
    startMerge: (input: MergeInput): Promise<QueryHandle> => submitMerge(deps, input),

    /**
     * Submits the batch's MERGE and follows it to its end, in one activity (see submitAndFollow). The token is the
     * run's and the submission's, so a retried submit finds the same query.
     */
    runMerge: (input: MergeInput & Omit<AwaitQueryInput, 'handle'>): Promise<QueryOutcome> =>
      submitAndFollow(deps, input, () => submitMerge(deps, input)),

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
            // A small batch's cleanup runs as a local activity, which has no heartbeat (its workflow task is kept alive).
            if (!Context.current().info.isLocal) Context.current().heartbeat(i);
            deps.failpoint?.('cleanup-chunk');
          }
        }
      });
    },
  };
}

export interface MergeInput {
  table: TableDefinition;
  files: string[];
  keyRange?: KeyRange;
  exportTime?: string;
  slice?: PartitionSlice;
  token: string;
}

function submitMerge(deps: ActivityDeps, input: MergeInput): Promise<QueryHandle> {
  const { keyRange, exportTime, slice } = input;
  const sql = renderMerge(input.table, deps.dialect, input.files, { keyRange, exportTime, slice });
  deps.failpoint?.('before-submit');
  return submitStatement(deps, `table ${tableName(input.table)}: submitting the MERGE`, sql, input.token);
}

/**
 * The objects a batch's files stand for, in the order to remove them. A folder format's change file (an export's
 * summary) stands for its whole folder, and goes alone first: a cleanup cut short then never leaves a summary whose
 * data is gone (which would read as an incomplete export); a retry lists the folder again and finishes.
 */
export async function mergedObjects(staging: ActivityDeps['staging'], def: TableDefinition, files: string[]): Promise<string[][]> {
  const folder = formatOf(def).folder;
  if (!folder) return [files];
  const groups: string[][] = [];
  for (const file of files) {
    const rest = (await staging.list(folder.of(file))).map((f) => f.uri).filter((uri) => uri !== file);
    groups.push([file], rest);
  }
  return groups;
}
