import type { IngestResult } from '../shared';
/** How the CLI writes sizes, durations and money. */

export function formatBytes(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  for (; value >= 1000 && unit < units.length - 1; unit++) value /= 1000;
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

export function formatDuration(millis: number): string {
  const seconds = millis / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${String(Math.round(seconds % 60)).padStart(2, '0')}s`;
  if (seconds < 172_800) return `${Math.floor(seconds / 3600)}h${String(Math.floor((seconds % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(seconds / 86_400)}d`;
}

/** Athena bills $5 per TB scanned, at least 10 MB per query. */
export const athenaCostUsd = (scannedBytes: number): number => (Math.max(scannedBytes, 10_000_000) / 1e12) * 5;

export const sum = (values: number[]): number => values.reduce((a, b) => a + b, 0);

/** What a batch read on the engine, its MERGE and the reads that checked it, and what Athena bills for each. */
export function batchScan(result: IngestResult): { scannedBytes: number; costUsd: number } {
  const reads = [result.stats?.scannedBytes ?? 0, ...(result.checkScannedBytes ?? [])];
  return { scannedBytes: sum(reads), costUsd: sum(reads.map(athenaCostUsd)) };
}

export const formatUsd = (usd: number): string => `$${usd < 0.01 ? usd.toPrecision(2) : usd.toFixed(2)}`;
