import {
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  condition,
  continueAsNew,
  defineSignal,
  defineUpdate,
  getExternalWorkflowHandle,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  uuid4,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { QUOTA_SIGNALS, type PermitAnswer, type PermitAsk, type PermitRequest, type QuotaState, type QuotaTicket } from '../shared';
import type { RunProgress } from './progress';

const acquireSignal = defineSignal<[PermitAsk]>(QUOTA_SIGNALS.acquire);
const askUpdate = defineUpdate<PermitAnswer, [PermitAsk]>(QUOTA_SIGNALS.ask);
const releaseSignal = defineSignal<[{ request: string }]>(QUOTA_SIGNALS.release);
const grantedSignal = defineSignal<[{ request: string }]>(QUOTA_SIGNALS.granted);

/** A quota with no permit out and none asked for this long ends. */
const IDLE_END_MS = 10 * 60_000;

const { closedRuns } = proxyActivities<Activities>({
  startToCloseTimeout: '1m',
  retry: { initialInterval: '1s', maximumInterval: '30s' },
});

/**
 * Asking (a signal-with-start) and giving back (a signal) are local activities: one marker each in the run's history,
 * no extra round trip through the server, and a permit given back before the run closes is delivered (a signal
 * sent by the run itself with its completion would be dropped). Temporal unreachable for ten minutes fails the step.
 */
const { requestQueryPermit, releaseQueryPermit } = proxyLocalActivities<Activities>({
  startToCloseTimeout: '30s',
  scheduleToCloseTimeout: '10m',
  retry: { initialInterval: '250ms', backoffCoefficient: 2, maximumInterval: '30s' },
});

/**
 * The engine's query quota: a semaphore that lives as long as the engine does (id `icetide:quota:<engine>`, started
 * by the first request). Runs ask with a signal (requestQueryPermit), get a signal back when one of the `limit`
 * permits is theirs, first come first served, and give it back with a signal when their query has ended. A permit
 * whose run closed without giving it back (terminated, timed out) is taken back by a periodic sweep. History stays
 * small: the state moves to a new run when Temporal suggests it, and an idle quota ends.
 */
export async function engineQuota(state: QuotaState): Promise<void> {
  const known = (request: string) => [...state.running, ...state.waiting].some((p) => p.request === request);
  const drop = (requests: Set<string>) => {
    state.running = state.running.filter((p) => !requests.has(p.request));
    state.waiting = state.waiting.filter((p) => !requests.has(p.request));
  };
  setHandler(acquireSignal, ({ limit, ...request }) => {
    state.limit = limit; // the newest configuration wins
    if (!known(request.request)) state.waiting.push({ ...request, since: Date.now() });
  });
  // Set when a reply granted a permit: the loop shows it (and, idle, no longer ends).
  let grantedInReply = false;
  setHandler(askUpdate, ({ limit, ...request }) => {
    state.limit = limit;
    if (!known(request.request)) {
      // First come, first served: only when nobody waits before it.
      const free = state.running.length < state.limit && !state.waiting.length;
      (free ? state.running : state.waiting).push({ ...request, since: Date.now() });
      grantedInReply ||= free;
    }
    return { granted: state.running.some((p) => p.request === request.request) };
  });
  setHandler(releaseSignal, ({ request }) => drop(new Set([request])));

  let lastSweep = Date.now();
  for (;;) {
    while (state.running.length < state.limit && state.waiting.length) {
      const next = { ...state.waiting.shift()!, since: Date.now() };
      state.running.push(next);
      try {
        await getExternalWorkflowHandle(next.workflowId, next.runId).signal(grantedSignal, { request: next.request });
      } catch {
        drop(new Set([next.request])); // the run is gone
      }
    }
    setCurrentDetails(
      `${state.running.length} of ${state.limit} query permit(s) held, ${state.waiting.length} waiting\n` +
        state.running.map((p) => `- ${p.label} (${p.workflowId}) since ${new Date(p.since).toISOString()}`).join('\n'),
    );
    if (workflowInfo().continueAsNewSuggested) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof engineQuota>(state);
    }
    grantedInReply = false;
    const wake = () =>
      (state.running.length < state.limit && state.waiting.length > 0) || workflowInfo().continueAsNewSuggested || grantedInReply;
    if (!state.running.length) {
      // Idle: end (the next request starts it again) rather than stand in the UI as a run that never ends.
      if (!(await condition(wake, IDLE_END_MS)) && !state.waiting.length) return;
    } else if (!(await condition(wake, Math.max(1000, lastSweep + state.sweepEveryMs - Date.now())))) {
      lastSweep = Date.now();
      const holders = state.running.filter((p) => Date.now() - p.since >= state.sweepEveryMs);
      if (holders.length) drop(new Set(await closedRuns(holders)));
    }
  }
}

/**
 * Runs `body` (a statement submitted and awaited) holding one of the engine's query permits, so that all runs on all
 * workers together stay within the engine's concurrency (Athena's active-query quota). The permit is given back
 * however `body` ends, cancellation included. Runs recorded before the quota existed replay without it (patched).
 */
export async function withQueryPermit<T>(
  progress: Pick<RunProgress, 'run'> | undefined,
  label: string,
  body: () => Promise<T>,
): Promise<T> {
  if (!patched('engine-quota')) return body();
  listenForGrants();
  const ask: PermitRequest = { request: uuid4(), workflowId: workflowInfo().workflowId, runId: workflowInfo().runId, label };
  let quotaId: string | null = null;
  try {
    const step = progress ? progress.run.bind(progress) : <R>(_: string, run: () => Promise<R>) => run();
    const ticket: QuotaTicket | string | null = await step('ask for a query permit', () => requestQueryPermit(ask));
    if (!ticket) return await body(); // no quota configured
    // Runs recorded before the wait was bounded have the quota's id alone in their history.
    quotaId = typeof ticket === 'string' ? ticket : ticket.quotaId;
    if (typeof ticket !== 'string' && ticket.granted) granted.add(ask.request);
    const isGranted = () => granted.has(ask.request);
    // Decided before the step: runs recorded before see exactly the awaits they had (parallel chunks interleave by them).
    const bounded = typeof ticket !== 'string' && patched('bounded-permit-wait') ? ticket : undefined;
    // Granted in the reply: no wait (waiting on a grant already there issues no command either).
    if (!isGranted()) {
      await step(`wait for a query permit (${label})`, () => (bounded ? waitForGrant(ask, bounded, isGranted) : condition(isGranted)));
    }
    return await body();
  } finally {
    if (quotaId) {
      const release = { quotaId, request: ask.request };
      // Not cancellable: a cancelled run gives its permit back too.
      await CancellationScope.nonCancellable(() => releaseQueryPermit(release));
    }
  }
}

/**
 * Waits for the grant, asking again every `askAgainEveryMs`: a quota that knows the ask ignores it; one that vanished
 * (terminated, reset to before the ask) is started again with the ask queued, so no run waits on a dead quota. Past
 * `maxWaitMs` the step fails naming the quota.
 */
async function waitForGrant(ask: PermitRequest, ticket: QuotaTicket, isGranted: () => boolean): Promise<void> {
  const deadline = Date.now() + ticket.maxWaitMs;
  while (!isGranted() && !(await condition(isGranted, Math.min(ticket.askAgainEveryMs, Math.max(1, deadline - Date.now()))))) {
    if (Date.now() >= deadline) {
      throw ApplicationFailure.nonRetryable(
        `${ask.label}: no query permit from ${ticket.quotaId} after ${waited(ticket.maxWaitMs)} of waiting`,
        'QueryPermitTimeout',
      );
    }
    // Asked again of a quota that lost the ask, the reply may grant it.
    if ((await requestQueryPermit(ask))?.granted) granted.add(ask.request);
  }
}

const waited = (ms: number): string => (ms < 60_000 ? `${Math.round(ms / 1000)} s` : `${Math.round(ms / 60_000)} min`);

/** Permits granted to this run (workflow globals are per run). */
const granted = new Set<string>();
let listening = false;
function listenForGrants(): void {
  if (listening) return;
  listening = true;
  setHandler(grantedSignal, ({ request }) => void granted.add(request));
}
