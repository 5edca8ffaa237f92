import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { bundledCode, bundleWorkflows, WORKFLOW_BUNDLE_KINDS } from '../../build/workflow-bundles';
import { workflowBundlePath } from '../../src/workflow-bundle';

// Workers run the bundles `npm run build` wrote; one built before a workflow changed would run the old code.
describe('the prebuilt workflow bundles', function () {
  this.timeout(120_000);
  for (const kind of WORKFLOW_BUNDLE_KINDS) {
    it(`${kind}: dist/ holds what bundling the workflow code now gives`, async () => {
      const file = workflowBundlePath(kind);
      assert.ok(existsSync(file), `${file} is missing: run \`npm run build\``);
      assert.ok(
        bundledCode(readFileSync(file, 'utf8')) === bundledCode(await bundleWorkflows(kind)),
        `${file} is stale (built from other workflow code): run \`npm run build\``,
      );
    });
  }
});
