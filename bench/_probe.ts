import { Connection, Client } from '@temporalio/client';
async function main() {
  const connection = await Connection.connect({ address: '127.0.0.1:7233' });
  const client = new Client({ connection });
  let latest: any;
  for await (const w of client.workflow.list({ query: `WorkflowType = 'buildModel'` })) { if (w.workflowId.includes('tiny_9')) { latest = w; break; } }
  const h = await client.workflow.getHandle(latest.workflowId, latest.runId).fetchHistory();
  const t0 = Number(h.events![0].eventTime!.seconds) * 1000 + h.events![0].eventTime!.nanos! / 1e6;
  let prev = t0;
  for (const e of h.events!) {
    const t = Number(e.eventTime!.seconds) * 1000 + e.eventTime!.nanos! / 1e6;
    const a = e.activityTaskScheduledEventAttributes?.activityType?.name ?? e.markerRecordedEventAttributes?.markerName ?? e.workflowExecutionSignaledEventAttributes?.signalName ?? '';
    console.log((t - t0).toFixed(0).padStart(6), ('+' + (t - prev).toFixed(0)).padStart(5), e.eventType, a);
    prev = t;
  }
}
main();
