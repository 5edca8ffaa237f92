import type { TableDefinition } from '../config/schema';
import { renderCurrentView, renderTableDdl } from '../sql/ddl';
import { renderColumnsQuery, renderSchemaChanges, type ExistingColumn } from '../sql/schema-changes';
import { tableName, type TableChanges } from '../shared';
import { failFastOnPermanent } from './failures';
import type { ActivityDeps } from './deps';
import { runToEnd } from './query';

export function createDdlActivities(deps: ActivityDeps) {
  const columnsOf = async (def: TableDefinition, table: 'target' | 'staging'): Promise<ExistingColumn[]> =>
    (await deps.engine.read(renderColumnsQuery(def, deps.dialect, table))).rows.map((row) => ({
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
      return failFastOnPermanent(`table ${tableName(def)}: creating or updating the table`, async () => {
        for (const sql of renderTableDdl(def, deps.dialect, { warehouse: deps.warehouse })) await runToEnd(deps, sql);
        const existing = { target: await columnsOf(def, 'target'), staging: await columnsOf(def, 'staging') };
        const changes = renderSchemaChanges(def, deps.dialect, existing);
        for (const sql of changes) await runToEnd(deps, sql);
        await runToEnd(deps, renderCurrentView(def, deps.dialect));
        return { schemaChanges: changes };
      });
    },

    /** The statements ensureTable would run, read-only: all of them for a new table, else its schema changes. */
    async planTable(def: TableDefinition): Promise<TableChanges> {
      return failFastOnPermanent(`table ${tableName(def)}: comparing the table with its definition`, async () => {
        const target = await columnsOf(def, 'target');
        if (target.length === 0) {
          return {
            exists: false,
            statements: [...renderTableDdl(def, deps.dialect, { warehouse: deps.warehouse }), renderCurrentView(def, deps.dialect)],
          };
        }
        const changes = renderSchemaChanges(def, deps.dialect, { target, staging: await columnsOf(def, 'staging') });
        return { exists: true, statements: changes.length ? [...changes, renderCurrentView(def, deps.dialect)] : [] };
      });
    },
  };
}
