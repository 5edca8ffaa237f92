import { DefaultFailureConverter } from '@temporalio/common';

/**
 * With encryption on, a failure's message and stack trace move into a payload (which the codec encrypts); history
 * keeps "Encoded failure" in clear. Loaded by the worker and clients by path, and built into the encrypted workflow
 * bundles (build/workflow-bundles.ts), since workflow code converts its own failures: only @temporalio/common here.
 */
export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
