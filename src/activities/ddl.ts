import type { TableDefinition } from '../config/schema';
import { renderCurrentView, renderTableDdl } from '../sql/ddl';
import { renderColumnsQuery, renderSchemaChanges, type ExistingColumn } from '../sql/schema-changes';
import { tableName, type TableChanges } from '../shared';
import type { ActivityDeps } from './deps';
import { runToEnd, whileWaiting } from './query';

export function createDdlActivities(deps: ActivityDeps) {
  const columnsOf = async (def: TableDefinition, table: 'target' | 'staging', signal: AbortSignal): Promise<ExistingColumn[]> =>
    (await deps.engine.read(renderColumnsQuery(def, deps.dialect, table), signal)).rows.map((row) => ({
      name: String(row.column_name),
      type: String(row.data_type),
    }));

  return {
    /**
     * Creates the staging table, the Iceberg target and the current view when missing, and brings an existing table
     * to its definition (added columns, widened types) without rewriting data. Idempotent; a change Iceberg cannot
     * make in place is refused before any statement runs.
     */
    async ensureTable(def: TableDefinition): Promise<{ schemaChanges: string[] }> {
      const what = `table ${tableName(def)}: creating or updating the table`;
      return whileWaiting(what, async (signal) => {
        for (const sql of renderTableDdl(def, deps.dialect, { warehouse: deps.warehouse })) await runToEnd(deps, sql, signal);
        const existing = { target: await columnsOf(def, 'target', signal), staging: await columnsOf(def, 'staging', signal) };
        const changes = renderSchemaChanges(def, deps.dialect, existing);
        for (const sql of changes) await runToEnd(deps, sql, signal);
        await runToEnd(deps, renderCurrentView(def, deps.dialect), signal);
        return { schemaChanges: changes };
      });
    },

    /** The statements ensureTable would run, read-only: all of them for a new table, else its schema changes. */
    async planTable(def: TableDefinition): Promise<TableChanges> {
      const what = `table ${tableName(def)}: comparing the table with its definition`;
      return whileWaiting(what, async (signal) => {
        const target = await columnsOf(def, 'target', signal);
        if (target.length === 0) {
          return {
            exists: false,
            statements: [...renderTableDdl(def, deps.dialect, { warehouse: deps.warehouse }), renderCurrentView(def, deps.dialect)],
          };
        }
        const changes = renderSchemaChanges(def, deps.dialect, { target, staging: await columnsOf(def, 'staging', signal) });
        return { exists: true, statements: changes.length ? [...changes, renderCurrentView(def, deps.dialect)] : [] };
      });
    },
  };
}
