/**
 * Engine messages quote the data they choke on (`Cannot cast VARCHAR '123456789012.00' to DECIMAL(10, 2)`, `Value
 * cannot be cast to date: 2021-13-45`). What enters workflow history is summarised: the kind of problem, never the
 * value. The full message goes to the worker's log at debug level only.
 */

/** Literals in single or double quotes (an unterminated one runs to the end: a message may be cut short). */
const QUOTED = /'(?:[^']|'')*(?:'|$)|"(?:[^"]|"")*(?:"|$)/g;

/** Messages that name a value without quotes put it after a colon: `Out of range for integer: 3000000000`. */
const VALUE_AFTER_COLON =
  /\b(value|cast|range|format|overflow|convert|parse|invalid|malformed|unparseable|character|token)\b([^:\n]*):[ \t]+\S[^\n]*/gi;

/** Long numbers standing alone (a key, an amount); parts of names, paths and query ids are left. */
const LONG_NUMBER = /(?<![\w./:-])-?\d{5,}(?:\.\d+)?(?![\w./-])/g;

export const REDACTED = '…';

/** The message with every quoted literal, value after a colon, and long number replaced by `…`. */
export function summarizeEngineMessage(message: string): string {
  return message
    .replace(QUOTED, (literal) => `${literal[0]}${REDACTED}${literal[0]}`)
    .replace(VALUE_AFTER_COLON, `$1$2: ${REDACTED}`)
    .replace(LONG_NUMBER, REDACTED);
}
