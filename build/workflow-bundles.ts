import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { workflowBundlePath, type WorkflowBundleKind } from '../src/workflow-bundle';

export const WORKFLOW_BUNDLE_KINDS: WorkflowBundleKind[] = ['plain', 'tracing', 'plain-encrypted', 'tracing-encrypted'];

/**
 * The workflow code a worker loads, bundled from src/workflows (the interceptors the tracing plugin would add, the
 * failure converter of encryption: the codec itself runs outside the workflow sandbox and is not in any bundle).
 */
export async function bundleWorkflows(kind: WorkflowBundleKind): Promise<string> {
  const { code } = await bundleWorkflowCode({
    workflowsPath: require.resolve('../src/workflows'),
    workflowInterceptorModules: kind.startsWith('tracing')
      ? [require.resolve('@temporalio/interceptors-opentelemetry/lib/workflow-interceptors')]
      : [],
    failureConverterPath: kind.endsWith('-encrypted') ? require.resolve('../src/codec/failures') : undefined,
    logger: new DefaultLogger('WARN'),
  });
  return code;
}

/** The bundle without its inline source map, whose file paths and names differ between checkouts of the same code. */
export const bundledCode = (bundle: string): string => bundle.replace(/\/\/# sourceMappingURL=data:.*$/m, '');

if (require.main === module) {
  void (async () => {
    for (const kind of WORKFLOW_BUNDLE_KINDS) {
      mkdirSync(path.dirname(workflowBundlePath(kind)), { recursive: true });
      writeFileSync(workflowBundlePath(kind), await bundleWorkflows(kind));
      console.error(`wrote ${workflowBundlePath(kind)}`);
    }
  })();
}
