import { temporal } from '@temporalio/proto';

const { EventType } = temporal.api.enums.v1;
type Event = temporal.api.history.v1.IHistoryEvent;

const millis = (e: Event): number => Number(e.eventTime?.seconds ?? 0) * 1000 + Math.floor((e.eventTime?.nanos ?? 0) / 1e6);

/**
 * Where a run's time went, from its history: each gap between consecutive events is charged to what the run was
 * waiting on when it opened — a workflow task (queued and processed, local activities included), an activity queued
 * for a worker, an activity running (by type), or nothing but a signal (a query permit's grant).
 */
export function phases(events: Event[]): Record<string, number> {
  const types = new Map<string, string>();
  const out: Record<string, number> = {};
  for (let i = 0; i + 1 < events.length; i++) {
    const e = events[i];
    if (e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED) {
      types.set(String(e.eventId), e.activityTaskScheduledEventAttributes?.activityType?.name ?? '?');
    }
    const gap = millis(events[i + 1]) - millis(e);
    if (gap <= 0) continue;
    const phase = phaseAfter(e, types);
    out[phase] = (out[phase] ?? 0) + gap;
  }
  return out;
}

function phaseAfter(e: Event, types: Map<string, string>): string {
  switch (e.eventType) {
    case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
    case EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
    case EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
      return 'workflow tasks';
    case EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
      return 'activity dispatch';
    case EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
      return types.get(String(e.activityTaskStartedEventAttributes?.scheduledEventId)) ?? '?';
    default:
      return 'waiting for a signal';
  }
}
