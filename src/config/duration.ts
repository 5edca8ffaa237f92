/** `30s`, `2m`, `1h` → milliseconds. Kept apart from the zod schema so workflow code can use it. */
export function durationMillis(text: string): number {
  const match = /^(\d+)(s|m|h)$/.exec(text);
  if (!match) throw new Error(`not a duration: ${text}`);
  return Number(match[1]) * { s: 1000, m: 60_000, h: 3_600_000 }[match[2] as 's' | 'm' | 'h'];
}
