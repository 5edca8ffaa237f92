import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { encryptionCodec } from '../../src/codec/codec';
import { createCodecServer } from '../../src/starters/codec-server';

const MARKER = 'marker-Pq4vL8-card-4111111111111111';
const UI = 'http://127.0.0.1:8233';
const env = { KEY: randomBytes(32).toString('base64'), OLD: randomBytes(32).toString('base64') };
const codec = encryptionCodec({ keys: [{ id: 'current', env: 'KEY' }] }, env);
const b64 = (text: string) => Buffer.from(text).toString('base64');
/** A payload in the endpoints' JSON (an independent rendering: metadata values and data in base64). */
const asJson = (payload: Payload) => ({
  metadata: Object.fromEntries(Object.entries(payload.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? []).toString('base64')])),
  data: Buffer.from(payload.data ?? []).toString('base64'),
});
const plainPayload = { metadata: { encoding: b64('json/plain') }, data: b64(JSON.stringify({ table: MARKER })) };

describe('icetide codec-server (HTTP, fetch)', () => {
  const servers: { url: string; close: () => void }[] = [];
  async function serve(token?: string): Promise<string> {
    const server = createCodecServer({ codec, origins: [UI], token });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    servers.push({ url, close: () => server.close() });
    return url;
  }
  after(() => servers.forEach((s) => s.close()));

  const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-namespace': 'default', origin: UI, ...headers },
      body: JSON.stringify(body),
    });

  it('encodes to ciphertext and decodes back, in the JSON shape of Temporal codec endpoints (base64 fields)', async () => {
    const url = await serve();
    const encoded = await post(`${url}/encode`, { payloads: [plainPayload] });
    assert.equal(encoded.status, 200);
    assert.equal(encoded.headers.get('access-control-allow-origin'), UI);
    const { payloads } = (await encoded.json()) as { payloads: { metadata: Record<string, string>; data: string }[] };
    assert.equal(Buffer.from(payloads[0].metadata.encoding, 'base64').toString(), 'binary/encrypted');
    assert.equal(Buffer.from(payloads[0].metadata['encryption-key-id'], 'base64').toString(), 'current');
    assert.ok(!Buffer.from(payloads[0].data, 'base64').toString('latin1').includes(MARKER));

    const decoded = await post(`${url}/decode`, { payloads });
    assert.equal(decoded.status, 200);
    const back = (await decoded.json()) as { payloads: (typeof plainPayload)[] };
    assert.deepEqual(back.payloads, [plainPayload]);
    // The same bytes the SDK's own codec gives: a payload the worker wrote decodes here.
    const [byWorker] = await codec.encode([defaultPayloadConverter.toPayload({ table: MARKER })]);
    const fromWorker = (await (await post(`${url}/decode`, { payloads: [asJson(byWorker)] })).json()) as {
      payloads: (typeof plainPayload)[];
    };
    assert.deepEqual(JSON.parse(Buffer.from(fromWorker.payloads[0].data, 'base64').toString()), { table: MARKER });
  });

  it('answers the preflight of the UI origin only, and refuses what is not an encode or decode', async () => {
    const url = await serve();
    const preflight = await fetch(`${url}/decode`, {
      method: 'OPTIONS',
      headers: { origin: UI, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,x-namespace' },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get('access-control-allow-origin'), UI);
    assert.match(preflight.headers.get('access-control-allow-headers') ?? '', /Content-Type.*X-Namespace/);
    const other = await post(`${url}/decode`, { payloads: [] }, { origin: 'https://evil.example.com' });
    assert.equal(other.headers.get('access-control-allow-origin'), null, 'no CORS grant for another origin');

    assert.equal((await post(`${url}/other`, { payloads: [] })).status, 404);
    assert.equal((await fetch(`${url}/decode`)).status, 405);
    const bad = await fetch(`${url}/decode`, { method: 'POST', body: 'not json' });
    assert.deepEqual([bad.status, await bad.json()], [400, { message: 'the body is not JSON' }]);
    assert.equal((await post(`${url}/decode`, { payload: [] })).status, 400);
  });

  it('names the key a payload needs when it is not configured, without the payload', async () => {
    const url = await serve();
    const [old] = await encryptionCodec({ keys: [{ id: 'retired-2025', env: 'OLD' }] }, env).encode([
      defaultPayloadConverter.toPayload(MARKER),
    ]);
    const response = await post(`${url}/decode`, { payloads: [asJson(old)] });
    assert.equal(response.status, 500);
    const { message } = (await response.json()) as { message: string };
    assert.match(message, /encrypted with key retired-2025, which is not configured/);
  });

  it('with a token, refuses requests without it (401) and serves those bearing it', async () => {
    const url = await serve('s3cr3t-token');
    const none = await post(`${url}/decode`, { payloads: [plainPayload] });
    assert.equal(none.status, 401);
    assert.equal(none.headers.get('www-authenticate'), 'Bearer');
    assert.equal((await post(`${url}/decode`, { payloads: [plainPayload] }, { authorization: 'Bearer wrong' })).status, 401);
    assert.equal((await post(`${url}/decode`, { payloads: [plainPayload] }, { authorization: 'Bearer s3cr3t-token' })).status, 200);
    // The preflight carries no credentials and is answered.
    assert.equal((await fetch(`${url}/decode`, { method: 'OPTIONS', headers: { origin: UI } })).status, 204);
  });
});
