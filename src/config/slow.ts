/**
 * Slow mode, for testing only: production's pace on the local stack (ICETIDE_SLOW_ENGINE, ICETIDE_SLOW_S3). Each
 * setting is a comma-separated list of `key=span`, a span being a duration or a range of them drawn from uniformly:
 * `queue=1-3s,statement=3s,read=20-60s`, `latency=20-80ms,page=1000`. Keys left out take Athena's and S3's pace.
 */
import type { SlowTiming } from '../engines/slow';

/** A span of milliseconds a delay is drawn from, uniformly. */
export type Span = [min: number, max: number];

export const drawMillis = ([min, max]: Span, random: () => number): number => min + Math.round(random() * (max - min));

export interface SlowS3Settings {
  /** Added to every S3 request. */
  latency: Span;
  /** The most keys a listing page returns (S3's own is 1,000; MinIO's too, forced here whatever the caller asks). */
  page: number;
}

const ENGINE_DEFAULTS: SlowTiming = { queue: [1000, 3000], statement: [3000, 3000], read: [20_000, 60_000] };
const S3_DEFAULTS: SlowS3Settings = { latency: [20, 80], page: 1000 };

const SPAN = /^(\d+)(?:-(\d+))?(ms|s|m)$/;
const UNIT_MILLIS = { ms: 1, s: 1000, m: 60_000 };

export function parseSpan(text: string): Span {
  const match = SPAN.exec(text.trim());
  if (!match) throw new Error(`not a duration or a range such as 20-60s: ${text}`);
  const unit = UNIT_MILLIS[match[3] as keyof typeof UNIT_MILLIS];
  const [min, max] = [Number(match[1]) * unit, Number(match[2] ?? match[1]) * unit];
  if (max < min) throw new Error(`a range goes from low to high: ${text}`);
  return [min, max];
}

function parseSettings(text: string, keys: readonly string[]): Map<string, string> {
  const settings = new Map<string, string>();
  for (const item of text.split(',').filter((part) => part.trim())) {
    const [key, value, ...rest] = item.split('=').map((part) => part.trim());
    if (!keys.includes(key) || value === undefined || rest.length) {
      throw new Error(`"${item}" is not one of ${keys.map((k) => `${k}=...`).join(', ')}`);
    }
    settings.set(key, value);
  }
  return settings;
}

export function parseSlowEngine(text: string): SlowTiming {
  const settings = parseSettings(text, Object.keys(ENGINE_DEFAULTS));
  const span = (key: keyof SlowTiming) => (settings.has(key) ? parseSpan(settings.get(key)!) : ENGINE_DEFAULTS[key]);
  return { queue: span('queue'), statement: span('statement'), read: span('read') };
}

export function parseSlowS3(text: string): SlowS3Settings {
  const settings = parseSettings(text, Object.keys(S3_DEFAULTS));
  const page = Number(settings.get('page') ?? S3_DEFAULTS.page);
  if (!Number.isInteger(page) || page < 1 || page > 1000) throw new Error(`page is a key count from 1 to 1000: ${settings.get('page')}`);
  return { latency: settings.has('latency') ? parseSpan(settings.get('latency')!) : S3_DEFAULTS.latency, page };
}
