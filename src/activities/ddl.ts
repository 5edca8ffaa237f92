import type { TableDefinition } from '../config/schema';
import { renderTableDdl } from '../sql/ddl';
import type { ActivityDeps } from './index';
import { runToEnd } from './query';

export function createDdlActivities(deps: ActivityDeps) {
  return {
    /** Creates the staging table, the Iceberg target and the current view when missing. Idempotent. */
    async ensureTable(def: TableDefinition): Promise<void> {
      for (const sql of renderTableDdl(def, deps.dialect, { warehouse: deps.warehouse })) await runToEnd(deps, sql);
    },
  };
}
