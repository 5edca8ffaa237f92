import assert from 'node:assert/strict';
import { parseTableDefinition } from '../../src/config/schema';
import { unaccountedFiles } from '../../src/changes/accounting';
import { renderFileAccounting } from '../../src/sql/accounting';
import { renderBatchFilter } from '../../src/formats/registry';
import { renderMerge } from '../../src/sql/merge';
import { trinoDialect } from '../../src/sql/dialect';

const at = (name: string) => `s3://bucket/cdc/orders/${name}`;

describe('every listed file is accounted for by the engine', () => {
  // The accounting read's answer as a Hive catalog with hive.recursive-directories=false gives it: the file in a date
  // sub-folder is absent (read as nothing), as is the gzip of nothing.
  const recorded = [
    { path: at('20240101-000001.csv'), size: 120, rows: 3 },
    { path: at('20240101-000002.csv'), size: 99, rows: 2 },
  ];

  it('names a file the engine did not read, with the likely causes; empty files and files read as listed pass', () => {
    const problems = unaccountedFiles(
      [
        { uri: at('20240101-000001.csv'), size: 120, records: 3 },
        { uri: at('2024/01/01/20240101-000003.csv'), size: 80, records: 2 },
        { uri: at('20240101-000004.csv.gz'), size: 20, records: 0 },
        { uri: at('20240101-000005.csv'), size: 0, records: 0 },
      ],
      recorded,
    );
    assert.deepEqual(
      problems.map((p) => p.uri),
      [at('2024/01/01/20240101-000003.csv')],
    );
    assert.match(problems[0].problem, /read nothing of it.*hive\.recursive-directories=true.*hidden.*location or format/);
  });

  it('names a file the engine read at another size than listed (replaced during planning)', () => {
    const problems = unaccountedFiles([{ uri: at('20240101-000002.csv'), size: 98, records: 2 }], recorded);
    assert.equal(problems.length, 1);
    assert.match(problems[0].problem, /listed at 98 bytes, but the engine read it at 99 bytes/);
  });

  it('a data file of unknown records (a DynamoDB export) passes unseen only when it is empty', () => {
    assert.deepEqual(
      unaccountedFiles(
        [
          { uri: at('AWSDynamoDB/x/data/a.json.gz'), size: 0 },
          { uri: at('AWSDynamoDB/x/data/b.json.gz'), size: 31 },
        ],
        [],
      ).map((p) => p.uri),
      [at('AWSDynamoDB/x/data/b.json.gz')],
    );
  });

  it('reads the staging table with the very filter the MERGE reads it with', () => {
    const def = parseTableDefinition({
      database: 'shop',
      table: 'orders',
      staging: { location: 's3://bucket/cdc/orders/' },
      columns: [{ name: 'id', type: 'bigint' }],
      primaryKey: ['id'],
    });
    const files = [at('a.csv'), at("o'b.csv")];
    const filter = renderBatchFilter(def, { files });
    const sql = renderFileAccounting(def, trinoDialect(), filter);
    assert.equal(
      sql,
      // A row short of the last field (a field left empty reads as '', one missing as NULL) is no DMS record.
      `SELECT "$path" AS path, "$file_size" AS size, count(*) AS rows, count_if("id" IS NULL) AS malformed ` +
        `FROM "hive"."shop"."orders__cdc" WHERE ${filter} GROUP BY "$path", "$file_size"`,
    );
    assert.ok(renderMerge(def, trinoDialect(), files).includes(`WHERE ${filter}`));
  });
});
