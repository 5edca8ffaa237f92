import { ApplicationFailure } from '@temporalio/activity';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import { summarizeEngineMessage } from '../engines/redact';

/**
 * Failures whose message icetide composes from parts that never hold a value: a bad change file's problems are
 * written by the formats' checks, which name file, line, column and the kind of problem only; the others name files,
 * settings, sizes and counts. (Summarising them would cut an apostrophe of icetide's own text short.)
 */
const VALUE_FREE_FAILURES = new Set(['BadChangeFile', 'UnreadChangeFile', 'AmbiguousOrder', 'StatementTooLong', 'UnsafeRetention']);

/**
 * Every error an activity throws becomes a failure in workflow history (and the SDK's warning log): its message, its
 * stack's first line and its causes are summarised on the way out (engines and parsers quote the values they choke
 * on). The full error is logged at debug level, on this worker only.
 */
export const redactActivityErrors: ActivityInterceptorsFactory = (ctx) => ({
  inbound: {
    async execute(input, next) {
      try {
        return await next(input);
      } catch (err) {
        if (!(err instanceof Error) || (err instanceof ApplicationFailure && VALUE_FREE_FAILURES.has(err.type ?? ''))) throw err;
        ctx.log.debug('activity error in full (summarised in history)', { error: err.message, stack: err.stack });
        throw summarizeError(err);
      }
    },
  },
});

/** The error with its message, the message in its stack, and its causes' summarised, in place. */
export function summarizeError(err: Error): Error {
  const full = err.message;
  err.message = summarizeEngineMessage(full);
  if (err.stack) {
    const frames = err.stack.split('\n').filter((line) => /^\s+at /.test(line));
    err.stack = [`${err.name}: ${err.message}`, ...frames].join('\n');
  }
  if (err.cause instanceof Error) summarizeError(err.cause);
  return err;
}
