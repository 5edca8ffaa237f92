import { quarantineLocation } from '../activities/plan';
import { KMS_ARN } from '../config/encryption';
import type { Project } from '../config/project';

export interface PolicyStatement {
  Sid: string;
  Effect: 'Allow';
  Action: string[];
  Resource: string[];
  Condition?: Record<string, Record<string, string[]>>;
}

export interface IamPolicy {
  Version: '2012-10-17';
  Statement: PolicyStatement[];
}

/** An S3 prefix the project reads and writes, and why (the README's table of prefixes names the same kinds). */
interface Prefix {
  bucket: string;
  key: string;
}

const S3_URI = /^s3a?:\/\/([^/]+)\/?(.*)$/;

function prefixOf(uri: string): Prefix {
  const [, bucket, key] = S3_URI.exec(uri) ?? [];
  // A prefix is a folder: `a/b` must not grant `a/bc/`.
  return { bucket, key: key && !key.endsWith('/') ? `${key}/` : key };
}

/** The prefixes icetide's own credentials touch: staging, quarantine, archive, and on Athena the warehouse and results. */
function projectPrefixes(project: Project): Prefix[] {
  const { runtime, tables, models } = project;
  const athena = runtime.ICETIDE_ENGINE === 'athena';
  const uris = tables.flatMap((def) => [
    def.staging.location,
    ...(def.badInput === 'quarantine' ? [quarantineLocation(def)] : []),
    ...(def.cleanup.mode === 'archive' ? [def.cleanup.location] : []),
    // On Trino the engine writes the warehouse with credentials of its own; on Athena with the caller's.
    ...(athena && def.location ? [def.location] : []),
  ]);
  if (athena) {
    uris.push(...models.map((model) => model.location ?? `${runtime.ICETIDE_WAREHOUSE.replace(/\/$/, '')}/${model.database}/`));
    if (runtime.ICETIDE_ATHENA_OUTPUT) uris.push(runtime.ICETIDE_ATHENA_OUTPUT);
  }
  const prefixes = uris.map(prefixOf);
  // A prefix inside another adds nothing; the same one twice neither.
  return prefixes
    .filter((p, i) => !prefixes.some((q, j) => q.bucket === p.bucket && p.key.startsWith(q.key) && (p.key !== q.key || j < i)))
    .sort((a, b) => (`${a.bucket}/${a.key}` < `${b.bucket}/${b.key}` ? -1 : 1));
}

const unique = <T>(values: T[]): T[] => [...new Set(values)];

/**
 * The IAM policy of the role icetide's worker (and CLI) runs as, from the project file: S3 list, read, write and
 * delete on exactly its prefixes (staging, quarantine, archive; on Athena also the tables' and models' locations
 * and the query results), Athena on its workgroup, Glue on its databases and their tables, and KMS on the keys
 * of `encryption` (GenerateDataKey only on the first, which encrypts). `account` fills the ARNs that need one
 * (default `*`); the region is the project's.
 */
export function iamPolicy(project: Project, options: { account?: string } = {}): IamPolicy {
  const { runtime, tables, models } = project;
  const account = options.account ?? '*';
  const region = runtime.ICETIDE_S3_REGION;
  const prefixes = projectPrefixes(project);
  const buckets = unique(prefixes.map((p) => p.bucket));
  const statements: PolicyStatement[] = buckets.map((bucket, index) => ({
    Sid: `ListPrefixes${index + 1}`,
    Effect: 'Allow',
    Action: ['s3:ListBucket'],
    Resource: [`arn:aws:s3:::${bucket}`],
    Condition: { StringLike: { 's3:prefix': prefixes.filter((p) => p.bucket === bucket).map((p) => `${p.key}*`) } },
  }));
  if (prefixes.length) {
    statements.push({
      Sid: 'ReadWriteDeleteObjects',
      Effect: 'Allow',
      Action: [
        's3:GetObject',
        's3:PutObject',
        's3:DeleteObject',
        ...(runtime.ICETIDE_ENGINE === 'athena' ? ['s3:AbortMultipartUpload'] : []),
      ],
      Resource: prefixes.map((p) => `arn:aws:s3:::${p.bucket}/${p.key}*`),
    });
  }

  if (runtime.ICETIDE_ENGINE === 'athena') {
    // Athena asks where every bucket it reads or writes is.
    statements.push({
      Sid: 'AthenaBucketLocation',
      Effect: 'Allow',
      Action: ['s3:GetBucketLocation'],
      Resource: buckets.map((b) => `arn:aws:s3:::${b}`),
    });
    statements.push({
      Sid: 'AthenaWorkgroup',
      Effect: 'Allow',
      Action: ['athena:StartQueryExecution', 'athena:GetQueryExecution', 'athena:GetQueryResults', 'athena:StopQueryExecution'],
      Resource: [`arn:aws:athena:${region}:${account}:workgroup/${runtime.ICETIDE_ATHENA_WORKGROUP}`],
    });
    // Tables and models live in their databases, staging tables and views beside them; queries run in `default`.
    const databases = unique([...tables.map((t) => t.database), ...models.map((m) => m.database)]).sort();
    statements.push({
      Sid: 'GlueCatalog',
      Effect: 'Allow',
      Action: [
        'glue:GetDatabase',
        'glue:CreateDatabase',
        'glue:GetTable',
        'glue:GetTables',
        'glue:CreateTable',
        'glue:UpdateTable',
        'glue:DeleteTable',
        'glue:GetPartition',
        'glue:GetPartitions',
        'glue:BatchGetPartition',
      ],
      Resource: [
        `arn:aws:glue:${region}:${account}:catalog`,
        ...unique(['default', ...databases]).map((db) => `arn:aws:glue:${region}:${account}:database/${db}`),
        ...databases.map((db) => `arn:aws:glue:${region}:${account}:table/${db}/*`),
      ],
    });
  }

  const kmsKeys = (runtime.encryption?.keys ?? []).flatMap((key, index) => (key.kms ? [{ arn: key.kms, encrypts: index === 0 }] : []));
  for (const [index, { arn, encrypts }] of kmsKeys.entries()) {
    const [, keyRegion, keyAccount, resource] = KMS_ARN.exec(arn) ?? [];
    const alias = resource?.startsWith('alias/');
    statements.push({
      Sid: `PayloadKey${index + 1}`,
      Effect: 'Allow',
      // Retired keys only decrypt what history still holds.
      Action: encrypts ? ['kms:GenerateDataKey', 'kms:Decrypt'] : ['kms:Decrypt'],
      // An alias is not a resource of Decrypt: the keys it names are granted through the alias condition.
      Resource: [alias ? `arn:aws:kms:${keyRegion}:${keyAccount}:key/*` : arn],
      ...(alias ? { Condition: { 'ForAnyValue:StringEquals': { 'kms:ResourceAliases': [resource] } } } : {}),
    });
  }
  return { Version: '2012-10-17', Statement: statements };
}
