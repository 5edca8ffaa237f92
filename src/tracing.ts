import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { Resource } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { OpenTelemetryPlugin } from '@temporalio/interceptors-opentelemetry';
import type { WorkerOptions, WorkerPlugin } from '@temporalio/worker';
import type { RuntimeConfig } from './config/runtime';
import { prebuiltWorkflowBundle, workflowBundleKind } from './workflow-bundle';

export interface Tracing {
  plugins: NonNullable<WorkerOptions['plugins']>;
  /** Sends the spans still buffered; call before the process exits. */
  shutdown(): Promise<void>;
}

/**
 * Runs the workflow bundle built with OpenTelemetry's workflow interceptors in it; the plugin's own list of them is
 * dropped, or the worker would warn that a prebuilt bundle ignores it.
 */
const tracingBundle = (encrypted: boolean): WorkerPlugin => ({
  name: 'icetide-tracing-bundle',
  configureWorker: (options) => ({
    ...options,
    workflowBundle: prebuiltWorkflowBundle(workflowBundleKind({ tracing: true, encrypted })),
    interceptors: { ...options.interceptors, workflowModules: [] },
  }),
});

/**
 * OpenTelemetry tracing of runs and activities (Temporal's interceptors: a span per workflow run, per activity, linked
 * across the client that started it), exported over OTLP/HTTP to OTEL_EXPORTER_OTLP_ENDPOINT. Off when it is unset.
 */
export function createTracing(config: RuntimeConfig): Tracing | undefined {
  if (!config.OTEL_EXPORTER_OTLP_ENDPOINT) return undefined;
  const resource = new Resource({ 'service.name': config.OTEL_SERVICE_NAME });
  // The exporter reads the endpoint (and OTEL_EXPORTER_OTLP_HEADERS, ...) from the environment itself.
  const spanProcessor = new BatchSpanProcessor(new OTLPTraceExporter());
  const provider = new BasicTracerProvider({ resource, spanProcessors: [spanProcessor] });
  provider.register();
  return {
    plugins: [new OpenTelemetryPlugin({ resource, spanProcessor }), tracingBundle(!!config.encryption)],
    shutdown: () => provider.shutdown(),
  };
}
