import type { DataTest } from '../config/models';
import { rowCountFailure, testFailure, testName, FAILURES_COLUMN, type TestFailure } from '../sql/data-tests';
import type { ModelSteps } from './model-steps';

export type FailedTest = { test: string; failure: TestFailure };

/**
 * The model's data tests on `table`, in one query for all (a row_count is answered without one when the build
 * reported its rows); samples of failing rows are read only for the tests that failed.
 */
export async function audit(steps: ModelSteps, table: string, builtRows?: number): Promise<FailedTest[]> {
  const { model, report, read } = steps;
  report.tests = model.tests.length;
  if (!steps.current) return legacyAudit(steps, table);
  const failed: FailedTest[] = [];
  const queried = model.tests.filter((test) => {
    if (builtRows === undefined || !('row_count' in test)) return true;
    const failure = rowCountFailure(test, builtRows);
    if (failure) failed.push({ test: testName(test), failure });
    return false;
  });
  if (!queried.length) return failed;
  const counts = await read(`tests (${queried.length})`, { kind: 'test-counts', tests: queried, table });
  for (const row of counts) {
    const failures = Number(row[FAILURES_COLUMN]);
    if (failures === 0) continue;
    const test = queried[Number(row.test)];
    if (!wantsSamples(steps, test)) {
      failed.push({ test: testName(test), failure: { failures, sample: [] } });
      continue;
    }
    const failure = testFailure(await read(`sample ${testName(test)}`, { kind: 'test', test, table }));
    if (failure) failed.push({ test: testName(test), failure });
  }
  return failed;
}

/** Runs recorded before the one audit query: one query per test. */
async function legacyAudit({ model, read }: ModelSteps, table: string): Promise<FailedTest[]> {
  const failed: FailedTest[] = [];
  for (const test of model.tests) {
    const failure = testFailure(await read(`test ${testName(test)}`, { kind: 'test', test, table }));
    if (failure) failed.push({ test: testName(test), failure });
  }
  return failed;
}

/** Whether a failed test's sample rows are read: opted in by the test or the model. */
const wantsSamples = ({ model, samplesOptIn }: ModelSteps, test: DataTest): boolean =>
  !samplesOptIn || (('samples' in test ? test.samples : undefined) ?? model.samples ?? false);

/** `unique(id): 2 failing row(s), e.g. {...}; ...` */
export const describeFailures = (failed: FailedTest[]): string =>
  failed
    .map(
      ({ test, failure }) =>
        `${test}: ${failure.failures} failing row(s)${failure.sample.length ? `, e.g. ${JSON.stringify(failure.sample[0])}` : ''}`,
    )
    .join('; ');
