import { AthenaClient } from '@aws-sdk/client-athena';
import { S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { createActivities, type ActivityDeps } from '../../src/activities';
import { AthenaEngine } from '../../src/engines/athena';
import { athenaDialect } from '../../src/sql/dialect';
import { StagingStore } from '../../src/storage/staging';

export const META = { httpStatusCode: 200, requestId: 'r', attempts: 1, totalRetryDelay: 0 };

/** icetide's activities on an Athena whose API answers as each test records it (`athena.on(...)`). */
export function recordedAthena(database: string, deps: Partial<ActivityDeps> = {}) {
  const client = new AthenaClient({ region: 'eu-west-1', credentials: { accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'secret' } });
  const athena = mockClient(client);
  const activities = createActivities({
    engine: new AthenaEngine({ client, workGroup: 'icetide', database }),
    dialect: athenaDialect(),
    staging: new StagingStore(new S3Client({ region: 'eu-west-1' })),
    minRetentionMs: 86_400_000,
    ...deps,
  });
  return { athena, activities };
}

/** A GetQueryResults answer as Athena sends it: a header row, then every value as text (null: no value). */
export const resultPage = (columns: string[], rows: (string | null)[][]) => ({
  $metadata: META,
  ResultSet: {
    ResultSetMetadata: { ColumnInfo: columns.map((Name) => ({ Name, Type: 'varchar' })) },
    Rows: [columns, ...rows].map((values) => ({ Data: values.map((value) => (value === null ? {} : { VarCharValue: value })) })),
  },
});
