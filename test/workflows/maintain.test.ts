import assert from 'node:assert/strict';
import { WorkflowFailedError } from '@temporalio/client';
import type { Activities } from '../../src/activities';
import type { FileStats, MaintainResult, MaintenanceStep, QueryOutcome, SnapshotStats } from '../../src/shared';
import { runWithFakes, useWorkflowEnvironment } from '../support/decisions';
import { tableFor } from '../../local/harness/harness';

type Fakes = Pick<
  Activities,
  | 'checkRetention'
  | 'startMaintenanceStep'
  | 'awaitQuery'
  | 'holdIngest'
  | 'releaseIngest'
  | 'fileStats'
  | 'snapshotStats'
  | 'countTableObjects'
  | 'expirySample'
  | 'expiredFilesLeft'
>;

const files = (dataFiles: number, deleteFiles: number): FileStats => ({
  dataFiles,
  deleteFiles,
  bytes: dataFiles * 1000,
  partitions: 4,
  partitionsToCompact: deleteFiles ? 4 : 0,
});
const moreRuns = (code: string): Omit<QueryOutcome, 'handle'> => ({
  state: 'FAILED',
  error: { message: `${code}: more work to do`, retryable: false },
});

/**
 * The maintenance workflow's decisions with scripted activities on the real dev server, playing an Athena that
 * asks for more OPTIMIZE and VACUUM rounds, a VACUUM that removes nothing, and a failing step.
 */
describe('maintainTable decisions (scripted activities)', function () {
  this.timeout(120_000);
  const context = useWorkflowEnvironment();

  async function run(script: {
    outcomes: Partial<Record<MaintenanceStep, Omit<QueryOutcome, 'handle'>[]>>;
    snapshots?: [SnapshotStats, SnapshotStats];
    objects?: number[];
    /** Of the expirable snapshots sampled before expiry: how many expiry removed, and how many of their files are still there. */
    expired?: { expired: number; left: number };
    noOrphanStep?: boolean;
    maxRounds?: number;
  }) {
    const events: string[] = [];
    const outcomes = structuredClone(script.outcomes);
    const snapshots = [
      ...(script.snapshots ?? [
        { snapshots: 10, expirable: 5 },
        { snapshots: 5, expirable: 0 },
      ]),
    ];
    const objects = [...(script.objects ?? [100, 80, 80, 79])];
    let fileReads = 0;
    const activities: Fakes = {
      checkRetention: async () => undefined,
      startMaintenanceStep: async ({ step }) => {
        if (step === 'properties' || (step === 'orphans' && script.noOrphanStep)) return undefined;
        events.push(`submit ${step}`);
        return { engine: 'athena', queryId: step };
      },
      awaitQuery: async ({ handle }) => ({ handle, ...(outcomes[handle.queryId as MaintenanceStep]?.shift() ?? { state: 'SUCCEEDED' }) }),
      holdIngest: async () => void events.push('hold'),
      releaseIngest: async () => {
        events.push('release');
        return Date.now();
      },
      fileStats: async () => (fileReads++ === 0 ? files(40, 30) : files(4, 0)),
      snapshotStats: async () => snapshots.shift()!,
      countTableObjects: async () => objects.shift()!,
      expirySample: async () => [{ snapshot: '1', manifestList: 's3://w/t/metadata/snap-1.avro' }],
      expiredFilesLeft: async () => script.expired ?? { expired: 1, left: 0 },
    };
    const table = tableFor('wf_maint', { maintenance: { maxRounds: script.maxRounds ?? 10 } });
    const outcome = await runWithFakes<MaintainResult>(context.env, 'maintainTable', { version: 1, table }, activities);
    return { ...outcome, events };
  }

  it('repeats OPTIMIZE and VACUUM while Athena says more runs are needed, reporting the rounds; each write step holds ingestion', async () => {
    const { result, events } = await run({
      outcomes: {
        compaction: [moreRuns('ICEBERG_OPTIMIZE_MORE_RUNS_NEEDED'), moreRuns('ICEBERG_OPTIMIZE_MORE_RUNS_NEEDED')],
        expiry: [moreRuns('ICEBERG_VACUUM_MORE_RUNS_NEEDED')],
      },
      noOrphanStep: true,
    });
    assert.equal(result?.compaction.rounds, 3);
    assert.equal(result?.expiry.rounds, 2);
    assert.equal(result?.orphans, undefined);
    assert.deepEqual(result?.warnings, []);
    assert.deepEqual(result?.compaction.before, files(40, 30));
    assert.deepEqual(result?.compaction.after, files(4, 0));
    assert.equal(result?.expiry.filesDeleted, 20);
    assert.deepEqual(events, [
      'hold', 'submit purge', 'release',
      'hold', 'submit compaction', 'submit compaction', 'submit compaction', 'release',
      'hold', 'submit expiry', 'submit expiry', 'release',
      'hold', 'release',
    ]); // prettier-ignore
  });

  it('stops after maintenance.maxRounds with a warning instead of looping', async () => {
    const { result } = await run({
      outcomes: { compaction: Array.from({ length: 5 }, () => moreRuns('ICEBERG_OPTIMIZE_MORE_RUNS_NEEDED')) },
      maxRounds: 2,
    });
    assert.equal(result?.compaction.rounds, 2);
    assert.match(result?.warnings[0] ?? '', /compaction: stopped after 2 rounds with more work left/);
  });

  it('warns when VACUUM expires nothing, or expires snapshots but deletes no file (no s3:DeleteObject)', async () => {
    const nothing = await run({
      outcomes: {},
      snapshots: [
        { snapshots: 10, expirable: 5 },
        { snapshots: 10, expirable: 5 },
      ],
    });
    assert.match(nothing.result?.warnings[0] ?? '', /snapshot expiry removed none of the 5 snapshot\(s\) older than 5d/);
    const noDelete = await run({ outcomes: {}, objects: [100, 100, 100, 100], expired: { expired: 1, left: 1 } });
    assert.match(
      noDelete.result?.warnings[0] ?? '',
      /removed 5 snapshot\(s\) but 1 of the 1 expired snapshot file\(s\) checked are still there: check s3:DeleteObject/,
    );
  });

  it('does not cry wolf when a batch lands during expiry and the table ends with more objects than it had', async () => {
    const { result } = await run({ outcomes: {}, objects: [100, 104, 104, 103], expired: { expired: 1, left: 0 } });
    assert.deepEqual(result?.warnings, []);
  });

  it('fails a step the engine rejects, naming table and step, and still releases ingestion', async () => {
    const { error, events } = await run({
      outcomes: { compaction: [{ state: 'FAILED', error: { message: 'ACCESS_DENIED: no', retryable: false } }] },
    });
    assert.ok(error instanceof WorkflowFailedError);
    assert.match(
      String(error.cause?.message),
      /^table wf_maint\.orders: maintenance step compaction, query compaction FAILED: ACCESS_DENIED: no/,
    );
    assert.deepEqual(events.slice(-3), ['hold', 'submit compaction', 'release']);
  });
});
