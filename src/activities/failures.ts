import { ApplicationFailure } from '@temporalio/activity';
import { PermanentEngineError } from '../engines/engine';
import { SchemaChangeRefused } from '../sql/schema-changes';

/** AWS error names that no retry can change: credentials, permissions, a bucket that does not exist. */
const PERMANENT_AWS_ERRORS = new Set([
  'AccessDenied',
  'AccessDeniedException',
  'AllAccessDisabled',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'NoSuchBucket',
  'InvalidBucketName',
  'ValidationException',
]);

/**
 * Runs an activity body and turns errors that no retry can fix into non-retryable failures, so the workflow learns
 * of them at once and fails naming the step. Everything else (connection refused, 5xx, throttling, timeouts) is
 * left to the activity's retry policy, which the workflow bounds in time.
 */
export async function failFastOnPermanent<T>(what: string, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (err) {
    if (err instanceof ApplicationFailure) throw err;
    if (
      err instanceof PermanentEngineError ||
      err instanceof SchemaChangeRefused ||
      PERMANENT_AWS_ERRORS.has((err as Error).name) ||
      // A statement the engine itself failed, for a reason running it again cannot change (a cast of a bad value).
      (err as { retryable?: unknown }).retryable === false
    ) {
      throw ApplicationFailure.nonRetryable(`${what}: ${(err as Error).message}`, (err as Error).name);
    }
    throw err;
  }
}
