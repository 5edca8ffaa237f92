import type { Column, TableDefinitionInput } from '../../src/config/schema';

/** shop.orders keyed by id, staged under s3://bucket/cdc/orders/, with the given columns after id. */
export const shopOrders = (...columns: Column[]): TableDefinitionInput => ({
  database: 'shop',
  table: 'orders',
  staging: { location: 's3://bucket/cdc/orders/' },
  columns: [{ name: 'id', type: 'bigint' }, ...columns],
  primaryKey: ['id'],
});
