import { Context } from '@temporalio/activity';
import { WithStartWorkflowOperation, WorkflowNotFoundError, type Workflow } from '@temporalio/client';
import { QUOTA_SIGNALS, type PermitAnswer, type PermitAsk, type PermitRequest, type QuotaState, type QuotaTicket } from '../shared';
import type { ActivityDeps } from './deps';

/** How often the quota takes back permits of runs that closed without giving them back. */
const SWEEP_EVERY_MS = 60_000;
/** How often a waiting run makes sure the quota still holds its ask. */
const ASK_AGAIN_EVERY_MS = 60_000;
/** The longest a run waits for a permit: as long as one query may run (the await's own bound). */
const MAX_WAIT_MS = 6 * 3_600_000;

/** The engine's query quota (workflows/quota.ts), reached through the worker's own Temporal client. */
export function createQuotaActivities(deps: ActivityDeps) {
  return {
    /**
     * Asks the engine's quota workflow for a permit, starting it if it is not running; returns its workflow id, whether
     * the permit is granted already and how to wait otherwise, or null when this worker has no quota configured. A retried ask, or one asked again while waiting,
     * carries the same request id: still one ask.
     */
    async requestQueryPermit(request: PermitRequest): Promise<QuotaTicket | null> {
      if (!deps.quota) return null;
      const { engine, limit } = deps.quota;
      const { client, info } = Context.current();
      const id = `icetide:quota:${info.taskQueue}:${engine}`;
      const initial: QuotaState = { version: 1, limit, sweepEveryMs: deps.quota.sweepEveryMs ?? SWEEP_EVERY_MS, running: [], waiting: [] };
      // An update rather than a signal: when a permit is free the reply grants it, and the run goes on at once instead
      // of waiting for the quota's signal (a workflow task of the quota and one of the run less).
      const { granted } = await client.workflow.executeUpdateWithStart<Workflow, PermitAnswer, [PermitAsk]>(QUOTA_SIGNALS.ask, {
        args: [{ ...request, limit }],
        startWorkflowOperation: new WithStartWorkflowOperation('engineQuota', {
          workflowId: id,
          taskQueue: info.taskQueue,
          args: [initial],
          workflowIdConflictPolicy: 'USE_EXISTING',
          staticSummary: `query quota of ${engine}: ${limit} at once`,
        }),
      });
      return {
        quotaId: id,
        askAgainEveryMs: deps.quota.askAgainEveryMs ?? ASK_AGAIN_EVERY_MS,
        maxWaitMs: deps.quota.maxWaitMs ?? MAX_WAIT_MS,
        granted,
      };
    },

    /** Gives a permit back (or withdraws the ask); a quota that has ended has nothing to take back. */
    async releaseQueryPermit(input: { quotaId: string; request: string }): Promise<void> {
      try {
        await Context.current().client.workflow.getHandle(input.quotaId).signal(QUOTA_SIGNALS.release, { request: input.request });
      } catch (err) {
        if (!(err instanceof WorkflowNotFoundError)) throw err;
      }
    },

    /** The requests among `holders` whose runs have closed. */
    async closedRuns(holders: PermitRequest[]): Promise<string[]> {
      const { client } = Context.current();
      const closed: string[] = [];
      for (const holder of holders) {
        try {
          const { status } = await client.workflow.getHandle(holder.workflowId, holder.runId).describe();
          if (status.name !== 'RUNNING') closed.push(holder.request);
        } catch (err) {
          if (!(err instanceof WorkflowNotFoundError)) throw err;
          closed.push(holder.request);
        }
      }
      return closed;
    },
  };
}
