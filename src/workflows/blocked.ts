import { ApplicationFailure, workflowInfo } from '@temporalio/workflow';
import type { TableDefinition } from '../config/schema';
import { durationMillis } from '../config/duration';
import { TABLE_BLOCKED, tableName, type BlockedState, type IngestInput } from '../shared';

/**
 * Failure types that no retry changes: a step the activity refused (bad input in fail mode, a statement too long, a
 * permission), or a statement the engine refused. Transient trouble that outlasted its retries is not among them.
 */
const REFUSALS = new Set(['StepRefused', 'QueryFailed']);

export const isRefusal = (err: unknown): err is ApplicationFailure => err instanceof ApplicationFailure && REFUSALS.has(err.type ?? '');

/** The table's blocked state as the previous scheduled run left it (the schedule hands its failure to this run). */
export function blockedBefore(): BlockedState | undefined {
  const failure = workflowInfo().lastFailure;
  if (!(failure instanceof ApplicationFailure) || failure.type !== TABLE_BLOCKED) return undefined;
  const state = failure.details?.[0] as BlockedState | undefined;
  return state?.version === 1 ? state : undefined;
}

/**
 * The failure for a run that finds its table blocked and not yet due for another attempt: it fails at once, touching
 * neither staging nor the engine. Undefined when the run should try: the attempt is due, the definition changed
 * (an applied fix), or someone asked for a retry (`icetide run`) after the last attempt.
 */
export function stillBlocked(input: IngestInput, state: BlockedState | undefined): ApplicationFailure | undefined {
  if (!state || state.definition !== fingerprint(input.table)) return undefined;
  if (Date.now() >= Date.parse(state.nextAttemptAt)) return undefined;
  if (input.retryRequest !== state.retryRequest) return undefined;
  return ApplicationFailure.nonRetryable(describeBlocked(input.table, state), TABLE_BLOCKED, state);
}

/**
 * Blocks the table after a refusal: the same refusal again doubles the wait before the next attempt (from one
 * schedule period up to limits.blockedRetryMax). `first` says whether this run made it blocked (worth an alert).
 */
export function blockTable(
  input: IngestInput,
  previous: BlockedState | undefined,
  reason: string,
): { failure: ApplicationFailure; state: BlockedState; first: boolean } {
  const def = input.table;
  const now = Date.now();
  const definition = fingerprint(def);
  const continued = previous?.definition === definition ? previous : undefined;
  const attempts = (continued?.attempts ?? 0) + 1;
  // A run started before blockedRetryMax existed carries no such limit.
  const longest = durationMillis(def.limits.blockedRetryMax ?? '1h');
  const wait = Math.min(longest, durationMillis(def.schedule.every) * 2 ** (attempts - 1));
  const state: BlockedState = {
    version: 1,
    since: continued?.since ?? new Date(now).toISOString(),
    attempts,
    lastAttemptAt: new Date(now).toISOString(),
    nextAttemptAt: new Date(now + wait).toISOString(),
    reason,
    definition,
    ...(input.retryRequest && { retryRequest: input.retryRequest }),
  };
  return { failure: ApplicationFailure.nonRetryable(describeBlocked(def, state), TABLE_BLOCKED, state), state, first: !continued };
}

export function describeBlocked(def: TableDefinition, state: BlockedState): string {
  return (
    `${state.reason} — BLOCKED since ${state.since} (${state.attempts} attempt(s)), next attempt at ${state.nextAttemptAt}. ` +
    `Way out: fix or quarantine the file it names (\`badInput: quarantine\` moves such files aside), or fix the definition ` +
    `and \`icetide apply\` (tried at once); \`icetide run ${tableName(def)}\` tries again now`
  );
}

/** FNV-1a of the definition: tells an applied change from the definition that blocked. */
function fingerprint(def: TableDefinition): string {
  const text = JSON.stringify(def);
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, '0');
}
