import assert from 'node:assert/strict';
import { classifyTrinoError } from '../../src/engines/trino';

describe('classifyTrinoError', () => {
  it('retries commit conflicts, abandoned queries and internal errors', () => {
    assert.equal(
      classifyTrinoError({ message: 'Failed to commit', errorName: 'ICEBERG_COMMIT_ERROR', errorType: 'EXTERNAL' }).retryable,
      true,
    );
    assert.equal(classifyTrinoError({ message: 'Query abandoned', errorName: 'ABANDONED_QUERY', errorType: 'USER_ERROR' }).retryable, true);
    assert.equal(classifyTrinoError({ message: 'oops', errorName: 'GENERIC_INTERNAL_ERROR', errorType: 'INTERNAL_ERROR' }).retryable, true);
    assert.equal(
      classifyTrinoError({ message: 'full', errorName: 'EXCEEDED_GLOBAL_MEMORY_LIMIT', errorType: 'INSUFFICIENT_RESOURCES' }).retryable,
      true,
    );
  });

  it('fails user errors, keeping the message and the error name', () => {
    assert.deepEqual(
      classifyTrinoError({ message: "Cannot cast VARCHAR 'x' to BIGINT", errorName: 'INVALID_CAST_ARGUMENT', errorType: 'USER_ERROR' }),
      {
        message: "Cannot cast VARCHAR 'x' to BIGINT",
        code: 'INVALID_CAST_ARGUMENT',
        retryable: false,
      },
    );
  });
});
