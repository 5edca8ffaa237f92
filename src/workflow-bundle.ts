import { existsSync } from 'node:fs';
import path from 'node:path';

/**
 * With tracing on, the bundle also holds OpenTelemetry's workflow interceptors (a span per run, context to activities);
 * an encrypted one converts failures with their message and stack encoded into a payload (codec/failures.ts).
 */
export type WorkflowBundleKind = `${'plain' | 'tracing'}${'' | '-encrypted'}`;

export const workflowBundleKind = (options: { tracing: boolean; encrypted: boolean }): WorkflowBundleKind =>
  `${options.tracing ? 'tracing' : 'plain'}${options.encrypted ? '-encrypted' : ''}`;

/**
 * Where `npm run build` writes the workflow bundles: dist/bundles/ at the package root, reached from src/ (tsx, tests)
 * and from dist/ (the package) alike.
 */
export const workflowBundlePath = (kind: WorkflowBundleKind): string =>
  path.join(__dirname, '..', 'dist', 'bundles', kind === 'plain' ? 'workflows.js' : `workflows-${kind.replace(/^plain-/, '')}.js`);

/** The prebuilt bundle a worker runs; a worker never bundles at start (webpack takes seconds and ~100 MB). */
export function prebuiltWorkflowBundle(kind: WorkflowBundleKind): { codePath: string } {
  const codePath = workflowBundlePath(kind);
  if (!existsSync(codePath))
    throw new Error(`no workflow bundle at ${codePath}: build it with \`npm run build\` (an installed package ships it)`);
  return { codePath };
}
