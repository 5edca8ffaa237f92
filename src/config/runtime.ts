import { z } from 'zod';
import { DURATION } from './duration';
import type { EncryptionSettings } from './encryption';
import { s3Location } from './schema';
import { parseSlowEngine, parseSlowS3 } from './slow';
import { temporalTarget, type TemporalSettings, type TemporalTarget } from './temporal';

const slowSetting = <T>(parse: (text: string) => T) =>
  z
    .string()
    .optional()
    .transform((text, ctx) => {
      if (!text) return undefined;
      try {
        return parse(text);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
        return z.NEVER;
      }
    });

/**
 * Where icetide's worker and CLI connect (Temporal itself: config/temporal.ts). Read once, at the edge, from the
 * environment over the project file's settings. No credentials in payloads.
 */
const runtimeSchema = z
  .object({
    ICETIDE_TEMPORAL_UI: z.string().url().default('http://127.0.0.1:8233'),
    ICETIDE_TASK_QUEUE: z.string().default('icetide'),
    ICETIDE_ENGINE: z.enum(['trino', 'athena']).default('trino'),
    ICETIDE_TRINO_URL: z.string().url().default('http://127.0.0.1:8080'),
    ICETIDE_TRINO_USER: z.string().default('icetide'),
    ICETIDE_TRINO_ICEBERG_CATALOG: z.string().default('iceberg'),
    ICETIDE_TRINO_HIVE_CATALOG: z.string().default('hive'),
    /** Trino: where new schemas keep their tables. */
    ICETIDE_WAREHOUSE: s3Location(/^s3:\/\//, 'an s3:// URI').default('s3://icetide-warehouse/warehouse'),
    ICETIDE_ATHENA_WORKGROUP: z.string().default('primary'),
    ICETIDE_ATHENA_OUTPUT: z
      .string()
      .regex(/^s3:\/\//, 'an s3:// URI')
      .optional(),
    ICETIDE_ATHENA_CATALOG: z.string().default('awsdatacatalog'),
    /**
     * How many queries icetide runs on the engine at once, across all its workers (0: no limit). Default: Athena's
     * active DML query quota per account and region (20 unless raised), 10 on Trino.
     */
    ICETIDE_ENGINE_MAX_QUERIES: z.coerce.number().int().min(0).optional(),
    /** S3-compatible endpoint (MinIO); unset on AWS, where region and credentials come from the standard chain. */
    ICETIDE_S3_ENDPOINT: z.string().url().optional(),
    ICETIDE_S3_REGION: z.string().default('us-east-1'),
    ICETIDE_S3_ACCESS_KEY: z.string().optional(),
    ICETIDE_S3_SECRET_KEY: z.string().optional(),
    /**
     * How many tables one worker serves (default: the project's): sizes its cache and slots (config/worker-sizing.ts).
     * With several workers on a project, each serves a share.
     */
    ICETIDE_WORKER_TABLES: z.coerce.number().int().min(0).optional(),
    /** Set instead of sized from the tables: runs kept in memory, activities and workflow tasks at once. */
    ICETIDE_WORKER_CACHED_WORKFLOWS: z.coerce.number().int().min(2).optional(),
    ICETIDE_WORKER_ACTIVITY_SLOTS: z.coerce.number().int().min(1).optional(),
    ICETIDE_WORKER_WORKFLOW_TASK_SLOTS: z.coerce.number().int().min(2).optional(),
    /** The worker's Prometheus endpoint (Temporal's runtime metrics and icetide's per table); off when unset. */
    ICETIDE_METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
    ICETIDE_METRICS_HOST: z.string().default('0.0.0.0'),
    /** The worker's log level. DEBUG adds engine errors in full (they quote row values; history holds them summarised). */
    ICETIDE_LOG_LEVEL: z.enum(['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR']).default('INFO'),
    /** Traces go to this OTLP/HTTP endpoint (the standard OpenTelemetry variable); off when unset. */
    OTEL_EXPORTER_OTLP_ENDPOINT: z.url().optional(),
    OTEL_SERVICE_NAME: z.string().default('icetide-worker'),
    /**
     * The shortest snapshot or orphan-file retention a maintenance run accepts: below it, a reader or a write in
     * flight could lose files. Match the engine's own floor (Trino iceberg.*.min-retention, 7d by default).
     */
    ICETIDE_MIN_RETENTION: z.string().regex(DURATION, 'a duration such as 0s, 1h or 7d').default('1d'),
    /** Testing only: the engine at Athena's pace, e.g. `queue=1-3s,statement=3s,read=20-60s` (config/slow.ts). */
    ICETIDE_SLOW_ENGINE: slowSetting(parseSlowEngine),
    /** Testing only: S3 with per-request latency and forced page size, e.g. `latency=20-80ms,page=1000`. */
    ICETIDE_SLOW_S3: slowSetting(parseSlowS3),
  })
  .refine((env) => !env.ICETIDE_S3_ACCESS_KEY === !env.ICETIDE_S3_SECRET_KEY, {
    message: 'set both ICETIDE_S3_ACCESS_KEY and ICETIDE_S3_SECRET_KEY, or neither',
  });

/** `encryption` comes from the project file only (config/project.ts): keys are named there, never their material. */
export type RuntimeConfig = z.infer<typeof runtimeSchema> & { temporal: TemporalTarget; encryption?: EncryptionSettings };

export function loadRuntimeConfig(env: NodeJS.ProcessEnv = process.env, temporal: TemporalSettings = {}): RuntimeConfig {
  const result = runtimeSchema.safeParse(env);
  if (!result.success) throw new Error(`invalid icetide environment: ${z.prettifyError(result.error)}`);
  return { ...result.data, temporal: temporalTarget(temporal, env) };
}
