import { AthenaClient } from '@aws-sdk/client-athena';
import { S3Client } from '@aws-sdk/client-s3';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import type { ActivityDeps } from './activities';
import { durationMillis } from './config/duration';
import { withoutUserInfo } from './config/urls';
import type { RuntimeConfig } from './config/runtime';
import { AthenaEngine } from './engines/athena';
import { SlowEngine } from './engines/slow';
import { TrinoEngine } from './engines/trino';
import { athenaDialect, trinoDialect } from './sql/dialect';
import { slowS3 } from './storage/slow-s3';
import { StagingStore } from './storage/staging';

/**
 * AWS's standard credential chain (environment, profile, SSO, container or instance role), whose failure names the
 * settings that would have given credentials instead of only "Could not load credentials from any providers".
 */
export function awsCredentialChain() {
  const chain = defaultProvider();
  return async (options?: Parameters<typeof chain>[0]) => {
    try {
      return await chain(options);
    } catch (err) {
      if ((err as Error).name !== 'CredentialsProviderError') throw err;
      throw new Error(
        'no credentials for S3 or Athena: set ICETIDE_S3_ACCESS_KEY and ICETIDE_S3_SECRET_KEY (an S3-compatible store such as ' +
          'MinIO), or on AWS AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or a role for the machine ' +
          `(${(err as Error).message})`,
        { cause: err },
      );
    }
  };
}

export function createS3Client(config: RuntimeConfig): S3Client {
  return new S3Client({
    region: config.ICETIDE_S3_REGION,
    endpoint: config.ICETIDE_S3_ENDPOINT,
    forcePathStyle: !!config.ICETIDE_S3_ENDPOINT,
    credentials: config.ICETIDE_S3_ACCESS_KEY
      ? { accessKeyId: config.ICETIDE_S3_ACCESS_KEY, secretAccessKey: config.ICETIDE_S3_SECRET_KEY ?? '' }
      : awsCredentialChain(),
  });
}

/**
 * The adapters the activities do their I/O through, built from the validated runtime config; in slow mode
 * (ICETIDE_SLOW_ENGINE, ICETIDE_SLOW_S3: tests only) the engine and S3 at production's pace.
 */
export function createActivityDeps(config: RuntimeConfig): ActivityDeps {
  const deps = engineDeps(config);
  const s3 = createS3Client(config);
  return {
    ...deps,
    engine: config.ICETIDE_SLOW_ENGINE ? new SlowEngine(deps.engine, config.ICETIDE_SLOW_ENGINE) : deps.engine,
    staging: new StagingStore(config.ICETIDE_SLOW_S3 ? slowS3(s3, config.ICETIDE_SLOW_S3) : s3),
  };
}

function engineDeps(config: RuntimeConfig): Omit<ActivityDeps, 'staging'> {
  const minRetentionMs = durationMillis(config.ICETIDE_MIN_RETENTION);
  const quota = engineQuota(config);
  if (config.ICETIDE_ENGINE === 'athena') {
    return {
      quota,
      engine: new AthenaEngine({
        client: new AthenaClient({ region: config.ICETIDE_S3_REGION, credentials: awsCredentialChain() }),
        workGroup: config.ICETIDE_ATHENA_WORKGROUP,
        outputLocation: config.ICETIDE_ATHENA_OUTPUT,
        catalog: config.ICETIDE_ATHENA_CATALOG,
        database: 'default',
      }),
      dialect: athenaDialect(config.ICETIDE_ATHENA_CATALOG),
      minRetentionMs,
      // Athena's GetQueryExecution answers at once: poll less eagerly than Trino's long-poll.
      poll: { initialMs: 250, maxMs: 5000 },
    };
  }
  return {
    engine: new TrinoEngine({
      url: config.ICETIDE_TRINO_URL,
      user: config.ICETIDE_TRINO_USER,
      catalog: config.ICETIDE_TRINO_ICEBERG_CATALOG,
    }),
    dialect: trinoDialect({ iceberg: config.ICETIDE_TRINO_ICEBERG_CATALOG, hive: config.ICETIDE_TRINO_HIVE_CATALOG }),
    minRetentionMs,
    quota,
    warehouse: config.ICETIDE_WAREHOUSE,
    // Each poll is a long-poll (Trino holds the request until the state changes, up to a second): no need to wait.
    poll: { initialMs: 10, maxMs: 200 },
  };
}

/**
 * One quota per engine (named in the quota workflow's id: never with the URL's credentials) — Athena's is per account and region, a Trino cluster's is its coordinator — shared by the
 * workers of a task queue (the quota workflow runs on it).
 */
export function engineQuota(config: RuntimeConfig): ActivityDeps['quota'] {
  const athena = config.ICETIDE_ENGINE === 'athena';
  const limit = config.ICETIDE_ENGINE_MAX_QUERIES ?? (athena ? 20 : 10);
  if (limit === 0) return undefined;
  return { engine: athena ? `athena:${config.ICETIDE_S3_REGION}` : `trino:${withoutUserInfo(config.ICETIDE_TRINO_URL)}`, limit };
}
