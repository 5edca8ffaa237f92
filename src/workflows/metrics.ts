import { log, metricMeter } from '@temporalio/workflow';
import { watermarkMillis, type IngestResult } from '../shared';

/**
 * icetide's own series, per table, emitted from the run that knows them and exported with Temporal's runtime metrics
 * by the worker's Prometheus endpoint as icetide_* (metricMeter skips replays, so a replayed run never counts twice).
 * Observation only: a value a series refuses is logged, never thrown into the run.
 */
export function recordBatch(table: string, outcome: BatchOutcome, millis: number, batch: BatchFigures = {}): void {
  try {
    emitBatch(table, outcome, millis, batch);
  } catch (err) {
    log.warn('icetide metrics: a value was refused', { table, error: err instanceof Error ? err.message : String(err) });
  }
}

type BatchOutcome = 'merged' | 'idle' | 'failed' | 'blocked';
type BatchFigures = Partial<Pick<IngestResult, 'rows' | 'updatedRows' | 'stats' | 'watermark'>> & { filesWaiting?: number };

function emitBatch(table: string, outcome: BatchOutcome, millis: number, batch: BatchFigures): void {
  const meter = metricMeter.withTags({ table });
  meter.createCounter('icetide_batches', 'batches', 'batches by outcome').withTags({ outcome }).add(1);
  meter.createHistogram('icetide_batch_duration', 'float', 'seconds', 'batch duration, plan to cleanup').record(millis / 1000);
  if (batch.rows) meter.createCounter('icetide_changes', 'changes', 'changes merged').add(batch.rows);
  if (batch.updatedRows) meter.createCounter('icetide_rows_written', 'rows', 'rows inserted, updated or deleted').add(batch.updatedRows);
  if (batch.stats?.scannedBytes)
    meter.createCounter('icetide_bytes_scanned', 'bytes', 'bytes the MERGE read').add(batch.stats.scannedBytes);
  if (batch.filesWaiting !== undefined) {
    meter.createGauge('icetide_files_waiting', 'int', 'files', 'change files left in staging for later batches').set(batch.filesWaiting);
  }
  const appliedThrough = batch.watermark?.appliedThrough;
  if (appliedThrough) {
    const seconds = watermarkMillis(appliedThrough) / 1000;
    if (!Number.isFinite(seconds)) return;
    meter.createGauge('icetide_applied_through', 'float', 'seconds', 'newest commit time applied (unix seconds)').set(seconds);
    // A source clock ahead of the worker's is normal (a second or so): lag is then 0 and the skew is its own series.
    const behind = Date.now() / 1000 - seconds;
    meter.createGauge('icetide_freshness_lag', 'float', 'seconds', 'run end minus the newest commit time applied').set(Math.max(0, behind));
    meter
      .createGauge('icetide_clock_skew', 'float', 'seconds', 'how far the newest commit time applied is ahead of the worker clock')
      .set(Math.max(0, -behind));
  }
}
