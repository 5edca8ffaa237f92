import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { repoRoot } from '../../local/harness/stack';

describe('local/stack.sh env', () => {
  it('prints export lines a shell can source, with the ports it was given', () => {
    const env = { ...process.env, ICETIDE_TEMPORAL_PORT: '17233', ICETIDE_S3_SECRET_KEY: 'a secret; with $pecial "chars"' };
    const sourced = execFileSync(
      'bash',
      ['-c', 'source <(bash local/stack.sh env) && bash -c \'echo "$TEMPORAL_ADDRESS|$ICETIDE_S3_SECRET_KEY|$ICETIDE_MIN_RETENTION"\''],
      { cwd: repoRoot, env, encoding: 'utf8' },
    );
    assert.equal(sourced, '127.0.0.1:17233|a secret; with $pecial "chars"|0s\n');
  });
});
