import assert from 'node:assert/strict';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { loadRuntimeConfig } from '../../src/config/runtime';
import { createS3Client } from '../../src/deps';

describe('S3 with no credentials anywhere', () => {
  // AWS's chain reads these at call time; none may hold credentials here, and the instance-metadata step stays off
  // (no request leaves the machine).
  const chainSettings = {
    AWS_ACCESS_KEY_ID: undefined,
    AWS_SECRET_ACCESS_KEY: undefined,
    AWS_SESSION_TOKEN: undefined,
    AWS_PROFILE: undefined,
    AWS_WEB_IDENTITY_TOKEN_FILE: undefined,
    AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: undefined,
    AWS_CONTAINER_CREDENTIALS_FULL_URI: undefined,
    AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/credentials',
    AWS_CONFIG_FILE: '/nonexistent/config',
    AWS_EC2_METADATA_DISABLED: 'true',
  };
  const saved = Object.fromEntries(Object.keys(chainSettings).map((key) => [key, process.env[key]]));
  const setEnv = (values: Record<string, string | undefined>) => {
    for (const [key, value] of Object.entries(values)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  };
  before(() => setEnv(chainSettings));
  after(() => setEnv(saved));

  it('fails naming the settings that would give it credentials', async () => {
    const s3 = createS3Client(loadRuntimeConfig({ ICETIDE_S3_ENDPOINT: 'http://127.0.0.1:1' }));
    await assert.rejects(s3.send(new ListObjectsV2Command({ Bucket: 'staging' })), (err: Error) => {
      assert.match(err.message, /^no credentials for S3 or Athena: set ICETIDE_S3_ACCESS_KEY and ICETIDE_S3_SECRET_KEY .* AWS_PROFILE/);
      assert.doesNotMatch(err.message, /\n/, 'one line, as the CLI prints it');
      return true;
    });
  });
});
