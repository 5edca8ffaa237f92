import assert from 'node:assert/strict';
import { blockTable, stillBlocked } from '../../src/workflows/blocked';
import { tableFor } from '../../local/harness/harness';

describe('a blocked table (workflows/blocked.ts)', () => {
  const def = tableFor('blk_db', { schedule: { every: '1m', lag: '0s' }, limits: { blockedRetryMax: '5m' } });
  const refusal = 'table blk_db.orders: step plan failed: change file s3://b/x.csv has bad rows';

  it('waits one schedule period after the first refusal, doubling to limits.blockedRetryMax, and keeps its first time', () => {
    const first = blockTable({ version: 1, table: def }, undefined, refusal);
    assert.equal(first.first, true);
    assert.equal(first.state.attempts, 1);
    assert.equal(Date.parse(first.state.nextAttemptAt) - Date.parse(first.state.lastAttemptAt), 60_000);
    let state = first.state;
    const waits = [];
    for (let i = 0; i < 4; i++) {
      const next = blockTable({ version: 1, table: def }, state, refusal);
      assert.equal(next.first, false);
      assert.equal(next.state.since, first.state.since);
      waits.push(Date.parse(next.state.nextAttemptAt) - Date.parse(next.state.lastAttemptAt));
      state = next.state;
    }
    assert.deepEqual(waits, [120_000, 240_000, 300_000, 300_000]);
    assert.equal(state.attempts, 5);
    assert.match(first.failure.message, /^table blk_db\.orders: step plan failed: .* — BLOCKED since .*Way out: /);
    assert.equal(first.failure.type, 'TableBlocked');
    assert.equal(first.failure.nonRetryable, true);
  });

  it('a run before the next attempt fails at once; a changed definition or a retry request tries now', () => {
    const { state } = blockTable({ version: 1, table: def }, undefined, refusal);
    assert.equal(stillBlocked({ version: 1, table: def }, state)?.type, 'TableBlocked');
    assert.equal(stillBlocked({ version: 1, table: def }, undefined), undefined);
    const fixed = tableFor('blk_db', { schedule: { every: '1m', lag: '0s' }, limits: { blockedRetryMax: '5m' }, badInput: 'quarantine' });
    assert.equal(stillBlocked({ version: 1, table: fixed }, state), undefined, 'an applied fix is tried at once');
    assert.equal(stillBlocked({ version: 1, table: def, retryRequest: 'r1' }, state), undefined, '`icetide run` asked for a retry');
    const afterRequest = blockTable({ version: 1, table: def, retryRequest: 'r1' }, state, refusal).state;
    assert.equal(stillBlocked({ version: 1, table: def, retryRequest: 'r1' }, afterRequest)?.type, 'TableBlocked', 'once per request');
    assert.equal(stillBlocked({ version: 1, table: def }, { ...state, nextAttemptAt: new Date(Date.now() - 1).toISOString() }), undefined);
    // A changed definition starts counting again.
    assert.equal(blockTable({ version: 1, table: fixed }, state, refusal).state.attempts, 1);
  });
});
