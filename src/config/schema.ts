import { z } from 'zod';
import { DURATION, durationMillis } from './duration';

/** Validated once at the edge (YAML, CLI, tests); everything after works with the inferred types. */

export const identifier = z
  .string()
  .regex(/^[a-z_][a-z0-9_]*$/, 'use lower-case letters, digits and underscores (Athena and Trino fold case)');

export const columnTypeSchema = z
  .string()
  .regex(
    /^(bigint|int|string|double|boolean|date|timestamp|decimal\(\d{1,2},\s*\d{1,2}\))$/,
    'one of bigint, int, string, double, boolean, date, timestamp, decimal(p,s)',
  );
export type ColumnType = z.infer<typeof columnTypeSchema>;

const columnSchema = z.strictObject({
  name: identifier,
  type: columnTypeSchema,
  /**
   * A column added to the source after change files were written (DMS appends it to every row): files of the old
   * width still merge, reading it as NULL. Added columns come last; `apply` adds them to the table.
   */
  added: z.literal(true).optional(),
  /** JSON formats: the record's field (DynamoDB attribute) the column is read from, when its name differs. */
  field: z
    .string()
    .min(1)
    .refine(
      (name) => ![...name].some((ch) => ch === '"' || ch === '\\' || ch < ' '),
      'a field name without double quotes, backslashes or control characters',
    )
    .optional(),
});
export type Column = z.infer<typeof columnSchema>;

export const duration = z.string().regex(DURATION, 'a duration such as 30s, 5m, 2h or 7d');

/**
 * Characters a location cannot hold safely: control characters (a line break inside DDL, keys no console shows), a
 * backslash (an escape in Hive DDL, a path separator to some S3 tools) and `?` or `#` (Hive reads a location as a
 * URI: what follows would be taken for a query or a fragment). Quotes are fine: every location is quoted in its
 * dialect's own way (sql/identifiers.ts).
 */
const unsafeInLocation = (ch: string): boolean => ch < ' ' || ch === '\u007f' || ch === '\\' || ch === '?' || ch === '#';

/** An s3:// location, refused with a clear message when it holds a character that cannot be quoted safely. */
export const s3Location = (shape: RegExp, message: string) =>
  z
    .string()
    .regex(shape, message)
    .refine((uri) => ![...uri].some(unsafeInLocation), {
      message: 'a location without control characters, backslashes, ? or # (Hive reads a location as a URI)',
    });

const s3Uri = s3Location(/^s3:\/\/[^/]+\/.+\/$/, 'an s3://bucket/prefix/ URI ending with /');

/** Iceberg partition transforms that keep a batch's write inside the partitions its keys live in. */
export const partitionSpec = z
  .string()
  .regex(
    /^((bucket|truncate)\([a-z_][a-z0-9_]*,\s*\d+\)|(year|month|day|hour)\([a-z_][a-z0-9_]*\)|[a-z_][a-z0-9_]*)$/,
    'a column, or bucket(column, n), truncate(column, n), year(column), month(column), day(column) or hour(column)',
  );

export const tableDefinitionSchema = z
  .strictObject({
    version: z.literal(1).default(1),
    database: identifier,
    table: identifier,
    /** The Iceberg table's own data location (Athena needs it; Trino uses it when given). */
    location: s3Uri.optional(),
    staging: z.strictObject({
      /** Where the change files land (DMS: CDC files, and full-load files with IncludeOpForFullLoad). */
      location: s3Uri,
      /** How the change files are written (src/formats). `csv`, the name before there were others, means dms-csv. */
      format: z.preprocess(
        (v) => (v === 'csv' ? 'dms-csv' : v),
        z.enum(['dms-csv', 'dms-parquet', 'debezium-json', 'dynamodb-stream', 'dynamodb-export']).default('dms-csv'),
      ),
      /** DMS writes NULL as an empty field unless CsvNullValue says otherwise. */
      nullValue: z.string().default(''),
    }),
    /**
     * cdc: changes upsert and delete rows by key. append: immutable records, insert-only and idempotent on the key
     * (a change other than an insert is bad input). snapshot: each complete export replaces the table's contents
     * (rows absent from it become tombstones), atomically.
     */
    kind: z.enum(['cdc', 'append', 'snapshot']).default('cdc'),
    /** The table's columns. DMS CSV: the fields after `Op` and the commit timestamp, in file order. */
    columns: z.array(columnSchema).min(1),
    primaryKey: z.array(identifier).min(1),
    ordering: z
      .strictObject({
        /** DMS TimestampColumnName: the commit time, `yyyy-MM-dd HH:mm:ss.SSSSSS`. */
        commitTimestamp: identifier.default('commit_ts'),
        /** A column of `columns` that orders changes with equal commit times (DMS $AR_H_CHANGE_SEQ). */
        sequence: identifier.optional(),
      })
      .prefault({}),
    partitioning: z.array(partitionSpec).default([]),
    schedule: z
      .strictObject({
        every: duration.default('1m'),
        /** Only files older than this are picked, so a file DMS is still writing is never read. */
        lag: duration.default('2m'),
      })
      .prefault({}),
    batch: z
      .strictObject({
        maxFiles: z.number().int().positive().max(5000).default(500),
        maxBytes: z
          .number()
          .int()
          .positive()
          .default(512 * 1024 * 1024),
      })
      .prefault({}),
    /**
     * delete: remove merged files; archive: move them under archivePrefix; retain: leave files alone and select rows
     * by commit time in (previous watermark, cutoff] (for append-only raw zones).
     */
    cleanup: z
      .discriminatedUnion('mode', [
        z.strictObject({ mode: z.literal('delete') }),
        z.strictObject({ mode: z.literal('archive'), location: s3Uri }),
        z.strictObject({
          mode: z.literal('retain'),
          /**
           * How retained files are told apart from new ones. key: object names sort by arrival (DMS names files by
           * time, date folders included), so the position is a name and each listing starts after it: a year of
           * retained files is never listed again. arrival: names need not sort (Kafka Connect's partition=N/
           * folders): the position is the landing time, and every run lists the whole prefix. Default: key for
           * DMS formats, arrival otherwise.
           */
          order: z.enum(['key', 'arrival']).optional(),
          /**
           * arrival only: how far behind the position each run looks again for files it has not taken. A multipart
           * upload's LastModified is when it started, so a file that took longer than this (plus schedule.lag) to
           * upload could land behind the window. Default 1h.
           */
          settle: duration.optional(),
        }),
      ])
      .default({ mode: 'delete' }),
    /**
     * tombstone: a delete keeps the key and its version (flagged deleted) so a late, older change cannot resurrect
     * the row; readers use the `<table>_current` view. hard: rows are removed; a late older change re-inserts.
     */
    deletes: z.enum(['tombstone', 'hard']).default('tombstone'),
    /** fail: a batch with a bad row fails, naming file and line. quarantine: such files are moved aside whole. */
    badInput: z.enum(['fail', 'quarantine']).default('fail'),
    /** Daily upkeep: compaction, tombstone purge, snapshot expiry, orphan files. A table without the block gets it all. */
    maintenance: z
      .strictObject({
        /** When the daily run starts, in the time zone's wall-clock time. */
        schedule: z
          .strictObject({
            at: z
              .string()
              .regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'a time of day HH:MM')
              .default('03:00'),
            timeZone: z.string().default('UTC'),
          })
          .prefault({}),
        /** Files smaller than this are rewritten (with their deletes applied) into files of about this size. */
        targetFileSize: z
          .string()
          .regex(/^\d+(MB|GB)$/, 'a size such as 128MB or 1GB')
          .default('128MB'),
        retain: z
          .strictObject({
            /** Snapshots younger than this stay readable by time travel. */
            snapshots: duration.default('5d'),
            /** Unreferenced files younger than this are kept (a write in flight has not referenced its files yet). */
            orphans: duration.default('7d'),
            /**
             * Tombstones younger than this are kept. It is the table's late-arrival window: once tombstones are
             * purged, a change older than the purge horizon is refused as bad input, never merged.
             */
            tombstones: duration.default('7d'),
          })
          .prefault({}),
        /** Athena repeats OPTIMIZE and VACUUM while it answers *_MORE_RUNS_NEEDED; at most this many rounds each. */
        maxRounds: z.number().int().min(1).max(100).default(10),
      })
      .prefault({}),
    /** How long a run may wait on trouble before it fails or says so. */
    limits: z
      .strictObject({
        /**
         * The time budget of one short step (plan, submit, cleanup: all attempts), and how long a wait on a query
         * tolerates an unreachable engine: transient trouble (engine or S3 restarting, 5xx, throttling) is retried
         * that long, then the run fails naming the step. Long enough to ride out an engine or S3 restart.
         */
        transientRetry: duration.default('10m'),
        /** A run older than this is marked overdue (IcetideOutcome=overdue). Default: 3 × schedule.every + 30m. */
        overdueAfter: duration.optional(),
        /**
         * Submissions of one batch's MERGE (commit conflicts, lost queries, an engine still starting) before the run
         * fails; with the backoff between them (1 s doubling to 30 s) the default spans about two minutes.
         */
        maxSubmissions: z.number().int().min(1).max(20).default(8),
        /**
         * A blocked table (a batch no retry can change: bad input in fail mode, a statement the engine refuses) is
         * tried again after schedule.every, doubling up to this, and at once when its definition changes.
         */
        blockedRetryMax: duration.default('1h'),
        /**
         * How far a commit time may be ahead of the worker's clock. A later one is bad input: a forged or corrupt
         * record would otherwise win against every later change of its key, for good.
         */
        maxClockSkew: duration.default('1h'),
      })
      .prefault({}),
    /** Where and when the table calls for attention. */
    alerts: z
      .strictObject({
        /** Posted `{ "text": ... }` (Slack's incoming webhooks take it as is) when the table is blocked or late. */
        webhook: z.url().optional(),
        /**
         * The table is late when a change file has waited in staging longer than this (a quiet source is never
         * late: its watermark stands still because nothing changed).
         */
        freshness: duration.optional(),
      })
      .prefault({}),
  })
  .superRefine((def, ctx) => {
    const names = new Set(def.columns.map((c) => c.name));
    if (names.size !== def.columns.length) ctx.addIssue({ code: 'custom', message: 'column names must be unique', path: ['columns'] });
    for (const key of def.primaryKey) {
      if (!names.has(key)) ctx.addIssue({ code: 'custom', message: `primary key column ${key} is not in columns`, path: ['primaryKey'] });
    }
    if (names.has(def.ordering.commitTimestamp)) {
      ctx.addIssue({ code: 'custom', message: 'the commit timestamp is its own file column, not one of columns', path: ['ordering'] });
    }
    if (def.kind === 'snapshot') {
      if (def.staging.format !== 'dynamodb-export') {
        ctx.addIssue({ code: 'custom', message: 'a snapshot table needs a format of complete exports (dynamodb-export)', path: ['kind'] });
      }
      if (def.deletes !== 'tombstone') {
        ctx.addIssue({
          code: 'custom',
          message: 'a snapshot table keeps tombstones, so a replayed older export cannot bring rows back; readers use the _current view',
          path: ['deletes'],
        });
      }
    }
    if (!def.staging.format.startsWith('dms-')) {
      if (def.ordering.sequence) {
        ctx.addIssue({
          code: 'custom',
          message: `${def.staging.format} orders changes by its own position; remove ordering.sequence`,
          path: ['ordering'],
        });
      }
    } else if (def.columns.some((c) => c.field)) {
      ctx.addIssue({
        code: 'custom',
        message: 'field applies to JSON formats; DMS columns are read by position (CSV) or by their own name (Parquet)',
        path: ['columns'],
      });
    }
    const firstAdded = def.columns.findIndex((c) => c.added);
    if (firstAdded >= 0 && def.columns.slice(firstAdded).some((c) => !c.added)) {
      ctx.addIssue({ code: 'custom', message: 'added columns come last, as the source appends them to each row', path: ['columns'] });
    }
    for (const c of def.columns.filter((c) => c.added && def.primaryKey.includes(c.name))) {
      ctx.addIssue({
        code: 'custom',
        message: `primary key column ${c.name} cannot be an added column: older files have no key there`,
        path: ['columns'],
      });
    }
    if (def.ordering.sequence && !names.has(def.ordering.sequence)) {
      ctx.addIssue({ code: 'custom', message: `sequence column ${def.ordering.sequence} is not in columns`, path: ['ordering'] });
    }
    for (const spec of def.partitioning) {
      const column = /\(([a-z_][a-z0-9_]*)/.exec(spec)?.[1] ?? spec;
      if (!names.has(column))
        ctx.addIssue({ code: 'custom', message: `partition column ${column} is not in columns`, path: ['partitioning'] });
    }
    const lateArrival = durationMillis(def.schedule.lag) + durationMillis(def.schedule.every);
    if (durationMillis(def.maintenance.retain.tombstones) <= lateArrival) {
      ctx.addIssue({
        code: 'custom',
        message: `tombstones must be kept longer than schedule.lag + schedule.every (${def.schedule.lag} + ${def.schedule.every}), or every change would arrive too late`,
        path: ['maintenance', 'retain', 'tombstones'],
      });
    }
    if (def.cleanup.mode === 'retain' && def.badInput === 'quarantine') {
      ctx.addIssue({
        code: 'custom',
        message: 'retain mode leaves every file where it is: quarantine would move files out of the raw zone (use badInput: fail)',
        path: ['badInput'],
      });
    }
    if (def.cleanup.mode === 'archive' && def.cleanup.location.startsWith(def.staging.location)) {
      ctx.addIssue({ code: 'custom', message: 'the archive must lie outside the staging location', path: ['cleanup'] });
    }
  });

export type TableDefinition = z.infer<typeof tableDefinitionSchema>;
export type TableDefinitionInput = z.input<typeof tableDefinitionSchema>;

/** Parses untrusted input; the error lists every problem with its path. */
export function parseTableDefinition(input: unknown): TableDefinition {
  const result = tableDefinitionSchema.safeParse(input);
  if (!result.success) {
    const table = (input as { database?: string; table?: string } | undefined) ?? {};
    throw new Error(`invalid table definition ${table.database ?? '?'}.${table.table ?? '?'}: ${z.prettifyError(result.error)}`);
  }
  return result.data;
}
