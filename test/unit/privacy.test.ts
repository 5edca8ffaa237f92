import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { summarizeError } from '../../src/activities/redaction';
import { textValueProblem } from '../../src/changes/validate';
import { loadRuntimeConfig } from '../../src/config/runtime';
import { userInfoOf, withoutUserInfo } from '../../src/config/urls';
import { engineQuota } from '../../src/deps';
import { summarizeEngineMessage } from '../../src/engines/redact';
import { TrinoEngine } from '../../src/engines/trino';

const MARKER = 'zq7marker';

describe('engine messages are summarised before they enter history', () => {
  // Messages as Trino and Athena word them, each quoting a value (the marker, or a long number standing for one).
  const messages = [
    `Cannot cast VARCHAR '${MARKER}' to DECIMAL(10, 2). Value too large.`,
    `INVALID_CAST_ARGUMENT: Cannot cast '${MARKER}' to BIGINT`,
    `line 1:8: Cannot cast VARCHAR '12${MARKER}' to INTEGER`,
    `Value cannot be cast to date: ${MARKER}-13-45`,
    `Value cannot be cast to timestamp: ${MARKER}`,
    `Invalid format: "${MARKER}" is malformed at "${MARKER}"`,
    `Cannot convert value to JSON: '{${MARKER}`,
    `Unexpected token 'o', "${MARKER} json" is not valid JSON`,
    `Out of range for integer: 3000000000${MARKER}`,
  ];

  it('quoted literals and values after a colon are gone; the kind of problem stays', () => {
    for (const message of messages) {
      const summary = summarizeEngineMessage(message);
      assert.ok(!summary.includes(MARKER), summary);
      assert.ok(summary.length > 10, summary);
    }
    assert.equal(
      summarizeEngineMessage("Cannot cast VARCHAR '123456789012.00' to DECIMAL(10, 2). Value too large."),
      "Cannot cast VARCHAR '…' to DECIMAL(10, 2). Value too large.",
    );
    assert.equal(summarizeEngineMessage('bigint addition overflow: 9223372036854775807 + 1'), 'bigint addition overflow: …');
    assert.equal(summarizeEngineMessage('Error at position 123456789'), 'Error at position …');
  });

  it('codes, query ids, paths and plain messages are kept', () => {
    for (const message of [
      'ICEBERG_OPTIMIZE_MORE_RUNS_NEEDED: Optimize needs more runs',
      'ICEBERG_COMMIT_ERROR: Failed to commit Iceberg update to table',
      'query 20260101_123456_00001_abcde FAILED',
      'Error reading s3://icetide-staging/db/public/orders/20261121-1134010000.csv',
      'One MERGE target table row matched more than one source row',
    ]) {
      assert.equal(summarizeEngineMessage(message), message);
    }
  });

  it('an activity error is summarised in its message, its stack and its causes', () => {
    const err = new Error(`Trino query q1 failed: Cannot cast '${MARKER}' to BIGINT`, {
      cause: new Error(`Value cannot be cast to date: ${MARKER}`),
    });
    summarizeError(err);
    for (const text of [err.message, err.stack ?? '', (err.cause as Error).message]) assert.ok(!text.includes(MARKER), text);
    assert.match(err.stack ?? '', /^Error: Trino query q1 failed: Cannot cast '…' to BIGINT\n\s+at /);
  });
});

describe('a value the MERGE would refuse is named by its kind', () => {
  it('decimal: precision - scale integer digits at most; extra fraction digits are rounded by the CAST', () => {
    assert.equal(textValueProblem('decimal(10,2)', '12345678.99'), undefined);
    assert.equal(textValueProblem('decimal(10,2)', '-00012345678.999'), undefined);
    assert.equal(textValueProblem('decimal(10,2)', '123456789012.00'), 'value does not fit decimal(10,2)');
    assert.equal(textValueProblem('decimal(10,2)', '99999999.994'), undefined);
    assert.equal(textValueProblem('decimal(10,2)', '99999999.995'), 'value does not fit decimal(10,2)'); // rounds to 100000000.00
    assert.equal(textValueProblem('decimal(2,2)', '0.999'), 'value does not fit decimal(2,2)');
    assert.equal(textValueProblem('decimal(10,2)', 'twelve'), 'not a decimal(10,2)');
    assert.equal(textValueProblem('int', '3000000000'), 'value does not fit int');
    assert.equal(textValueProblem('int', 'x'), 'not an int');
  });
});

describe('URLs lose their credentials before they are shown or used in an id', () => {
  const secret = 's3cr3t-p@ss';
  const url = `http://icetide:${encodeURIComponent(secret)}@127.0.0.1:8080`;

  it('withoutUserInfo / userInfoOf', () => {
    assert.equal(withoutUserInfo(url), 'http://127.0.0.1:8080');
    assert.equal(withoutUserInfo('https://a:b@c@host/path?x=1'), 'https://host/path?x=1');
    assert.equal(withoutUserInfo('http://127.0.0.1:8080/a@b'), 'http://127.0.0.1:8080/a@b');
    assert.deepEqual(userInfoOf(url), { user: 'icetide', password: secret });
    assert.equal(userInfoOf('http://127.0.0.1:8080'), undefined);
  });

  it('the quota workflow id names the Trino coordinator without them', () => {
    const quota = engineQuota(loadRuntimeConfig({ ICETIDE_TRINO_URL: url }));
    assert.equal(quota?.engine, 'trino:http://127.0.0.1:8080');
  });

  it('Trino: the credentials go as basic authentication, and no message carries them', async () => {
    const seen: IncomingHttpHeaders[] = [];
    const server = createServer((req, res) => {
      seen.push(req.headers);
      res.writeHead(500).end('Internal error');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const engine = new TrinoEngine({ url: `http://icetide:${encodeURIComponent(secret)}@127.0.0.1:${port}/`, user: 'icetide' });
      const err = await engine.read('SELECT 1').then(
        () => assert.fail('a 500 fails the read'),
        (e: Error) => e,
      );
      assert.match(err.message, new RegExp(`^Trino answered 500 to POST http://127\\.0\\.0\\.1:${port}/v1/statement`));
      assert.ok(!`${err.message}${err.stack}`.includes(secret));
      assert.equal(seen[0].authorization, `Basic ${Buffer.from(`icetide:${secret}`).toString('base64')}`);
      // Nothing listens there: the unreachable message names the coordinator without them too.
      server.close();
      const down = await engine.read('SELECT 1').catch((e: Error) => e);
      assert.match(String(down), /unreachable/);
      assert.ok(!String(down).includes(secret));
    } finally {
      server.close();
    }
  });
});
