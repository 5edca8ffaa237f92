import { metricMeter } from '@temporalio/workflow';
import { watermarkMillis, type IngestResult } from '../shared';

/**
 * icetide's own series, per table, emitted from the run that knows them and exported with Temporal's runtime metrics
 * by the worker's Prometheus endpoint as icetide_* (metricMeter skips replays, so a replayed run never counts twice).
 */
export function recordBatch(
  table: string,
  outcome: 'merged' | 'idle' | 'failed',
  millis: number,
  batch: Partial<Pick<IngestResult, 'rows' | 'updatedRows' | 'stats' | 'watermark'>> & { filesWaiting?: number } = {},
): void {
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
    meter.createGauge('icetide_applied_through', 'float', 'seconds', 'newest commit time applied (unix seconds)').set(seconds);
    meter
      .createGauge('icetide_freshness_lag', 'float', 'seconds', 'run end minus the newest commit time applied')
      .set(Date.now() / 1000 - seconds);
  }
}
