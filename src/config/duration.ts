/** `30s`, `2m`, `1h`, `7d` → milliseconds. Kept apart from the zod schema so workflow code can use it. */
export function durationMillis(text: string): number {
  const match = DURATION.exec(text);
  if (!match) throw new Error(`not a duration: ${text}`);
  return Number(match[1]) * UNIT_MILLIS[match[2] as keyof typeof UNIT_MILLIS];
}

export const DURATION = /^(\d+)(s|m|h|d)$/;
const UNIT_MILLIS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
