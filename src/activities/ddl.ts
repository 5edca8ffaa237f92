import type { TableDefinition } from '../config/schema';
import { renderCurrentView, renderTableDdl } from '../sql/ddl';
import { renderColumnsQuery, renderSchemaChanges, type ExistingColumn } from '../sql/schema-changes';
import { tableName } from '../shared';
import { failFastOnPermanent } from './failures';
import type { ActivityDeps } from './index';
import { runToEnd } from './query';

export function createDdlActivities(deps: ActivityDeps) {
  const columnsOf = async (def: TableDefinition, table: 'target' | 'staging'): Promise<ExistingColumn[]> =>
    (await deps.engine.query(renderColumnsQuery(def, deps.dialect, table))).map((row) => ({
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
  };
}
