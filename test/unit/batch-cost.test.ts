import assert from 'node:assert/strict';
import type { Project } from '../../src/config/project';
import type { IngestResult } from '../../src/shared';
import { describeBatch } from '../../src/starters/run';
import { batchScan } from '../../src/starters/text';

const merged: IngestResult = {
  version: 1,
  table: 'shop.orders',
  outcome: 'merged',
  watermark: { version: 1, appliedThrough: '2026-11-21 10:00:00.000000' },
  files: 3,
  rows: 1200,
  queryId: 'q1',
  stats: { executionMillis: 4000, scannedBytes: 2e9 },
  checkScannedBytes: [0, 1e9],
  updatedRows: 1100,
  ignoredFiles: 0,
  quarantined: [],
};

describe('what a batch costs', () => {
  it('counts the MERGE and each read that checked the batch, Athena billing each at least 10 MB', () => {
    // 2 GB + 1 GB at $5/TB, and the accounting read that scanned nothing billed as 10 MB.
    const { scannedBytes, costUsd } = batchScan(merged);
    assert.equal(scannedBytes, 3e9);
    assert.ok(Math.abs(costUsd - (0.01 + 0.005 + 0.00005)) < 1e-12, String(costUsd));
    const athena = { runtime: { ICETIDE_ENGINE: 'athena' } } as unknown as Project;
    assert.match(describeBatch(merged, athena), /: 1100 row\(s\) written, 3\.0 GB scanned \(1\.0 GB by the check\), ~\$0\.02 on Athena,/);
    const trino = { runtime: { ICETIDE_ENGINE: 'trino' } } as unknown as Project;
    assert.doesNotMatch(describeBatch(merged, trino), /Athena/);
  });
});
