import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DecryptCommand, GenerateDataKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { ApplicationFailure, defaultPayloadConverter, type Payload } from '@temporalio/common';
import {
  decodeOptionalFailureToOptionalError,
  encodeErrorToFailure,
  loadDataConverter,
} from '@temporalio/common/lib/internal-non-workflow';
import { mockClient } from 'aws-sdk-client-mock';
import { ENCRYPTED_ENCODING, encryptionCodec, EncryptionCodec, KEY_ID, WRAPPED_KEY } from '../../src/codec/codec';
import { projectDataConverter } from '../../src/codec/converter';
import { DATA_KEY_TTL_MS, kmsKey } from '../../src/codec/kms';

const MARKER = 'marker-Zq7xW3-customer@example.com';
const KEY_A = randomBytes(32);
const KEY_B = randomBytes(32);
const env = { KEY_A: KEY_A.toString('base64'), KEY_B: KEY_B.toString('hex') };
const toPayload = (value: unknown): Payload => defaultPayloadConverter.toPayload(value);
const fromPayload = (payload: Payload): unknown => defaultPayloadConverter.fromPayload(payload);
const text = (bytes: Uint8Array | null | undefined): string => Buffer.from(bytes ?? []).toString('latin1');

/** Everything a reader of history sees of a payload, as text. */
const visible = (payload: Payload): string =>
  Object.entries(payload.metadata ?? {})
    .map(([k, v]) => `${k}=${text(v)}`)
    .join(' ') + text(payload.data);

describe('payload encryption (codec/)', () => {
  it('encrypts with AES-256-GCM under the first key, a fresh IV each time, and decrypts to the same payload', async () => {
    const codec = encryptionCodec({ keys: [{ id: 'a', env: 'KEY_A' }] }, env);
    const payload = toPayload({ table: MARKER, rows: [1, 2] });
    const [once] = await codec.encode([payload]);
    const [twice] = await codec.encode([payload]);
    assert.ok(!visible(once).includes(MARKER), 'the marker is not readable in the encrypted payload');
    assert.equal(text(once.metadata?.encoding), ENCRYPTED_ENCODING);
    assert.equal(text(once.metadata?.[KEY_ID]), 'a', 'the key id rides in clear');
    assert.notDeepEqual(once.data, twice.data, 'a random IV: the same payload encrypts differently');
    const [back] = await codec.decode([once]);
    assert.deepEqual(fromPayload(back), { table: MARKER, rows: [1, 2] });
    assert.equal(text(back.metadata?.encoding), 'json/plain', "the payload's own metadata is restored");

    // An independent reference: node's AES-256-GCM with the raw key, IV first and the tag last.
    const data = Buffer.from(once.data ?? []);
    const { createDecipheriv } = await import('node:crypto');
    const decipher = createDecipheriv('aes-256-gcm', KEY_A, data.subarray(0, 12)).setAAD(Buffer.from('a'));
    decipher.setAuthTag(data.subarray(data.length - 16));
    const plain = Buffer.concat([decipher.update(data.subarray(12, data.length - 16)), decipher.final()]);
    assert.ok(plain.toString('latin1').includes(MARKER));
  });

  it('rotates: a new first key encrypts, an old one still decrypts; a key no longer configured is named', async () => {
    const before = encryptionCodec({ keys: [{ id: 'old', env: 'KEY_A' }] }, env);
    const [old] = await before.encode([toPayload(MARKER)]);
    const rotated = encryptionCodec(
      {
        keys: [
          { id: 'new', env: 'KEY_B' },
          { id: 'old', env: 'KEY_A' },
        ],
      },
      env,
    );
    assert.equal(fromPayload((await rotated.decode([old]))[0]), MARKER);
    const [fresh] = await rotated.encode([toPayload(MARKER)]);
    assert.equal(text(fresh.metadata?.[KEY_ID]), 'new');

    const retired = encryptionCodec({ keys: [{ id: 'new', env: 'KEY_B' }] }, env);
    await assert.rejects(retired.decode([old]), /encrypted with key old, which is not configured \(encryption\.keys: new\)/);
    // Same id, other material (a key replaced instead of rotated), or altered data: refused, never garbage.
    const replaced = encryptionCodec({ keys: [{ id: 'old', env: 'KEY_B' }] }, env);
    await assert.rejects(replaced.decode([old]), /encrypted with key old does not decrypt/);
    const altered = { ...old, data: Buffer.from(old.data ?? []).fill(0, 20, 21) };
    await assert.rejects(before.decode([altered]), /does not decrypt/);
  });

  it('decodes payloads written before encryption was turned on as they are', async () => {
    const codec = encryptionCodec({ keys: [{ id: 'a', env: 'KEY_A' }] }, env);
    const plain = toPayload({ watermark: '2026-12-01' });
    assert.deepEqual(await codec.decode([plain]), [plain]);
  });

  it('reads key material from a file (hex or base64) and names a bad one by key id and source, never its value', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'icetide-keys-'));
    await writeFile(join(dir, 'hex'), `${KEY_B.toString('hex')}\n`);
    await writeFile(join(dir, 'short'), randomBytes(16).toString('base64'));
    const fromFile = encryptionCodec({ keys: [{ id: 'f', file: join(dir, 'hex') }] }, {});
    const fromEnv = encryptionCodec({ keys: [{ id: 'f', env: 'KEY_B' }] }, env);
    assert.equal(fromPayload((await fromEnv.decode(await fromFile.encode([toPayload(MARKER)])))[0]), MARKER);

    const short = randomBytes(16).toString('base64');
    assert.throws(
      () => encryptionCodec({ keys: [{ id: 'k', env: 'SHORT' }] }, { SHORT: short }),
      (err: Error) => {
        assert.match(err.message, /encryption key k: environment variable SHORT does not hold an AES-256 key: 32 bytes/);
        assert.ok(!err.message.includes(short), 'the material is not in the message');
        return true;
      },
    );
    assert.throws(
      () => encryptionCodec({ keys: [{ id: 'k', env: 'UNSET' }] }, {}),
      /encryption key k: environment variable UNSET is not set/,
    );
    assert.throws(
      () => encryptionCodec({ keys: [{ id: 'k', file: join(dir, 'short') }] }, {}),
      /file .*short does not hold an AES-256 key/,
    );
    assert.throws(() => encryptionCodec({ keys: [{ id: 'k', file: join(dir, 'none') }] }, {}), /file .*none cannot be read \(ENOENT\)/);
  });

  it('KMS: one data key from GenerateDataKey encrypts until it expires; Decrypt unwraps each data key once', async () => {
    const kms = mockClient(KMSClient);
    const arn = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    const dataKeys = [randomBytes(32), randomBytes(32)];
    const wrap = (key: Buffer) => Buffer.concat([Buffer.from('wrapped:'), key]);
    let generated = 0;
    kms.on(GenerateDataKeyCommand).callsFake(() => {
      const key = dataKeys[generated++];
      return { Plaintext: key, CiphertextBlob: wrap(key), KeyId: arn };
    });
    kms
      .on(DecryptCommand)
      .callsFake((input: { CiphertextBlob: Uint8Array }) => ({ Plaintext: Buffer.from(input.CiphertextBlob).subarray(8) }));
    let clock = 0;
    const writer = new EncryptionCodec([kmsKey('prod', arn, new KMSClient({ region: 'eu-west-1' }), () => clock)]);
    const first = await writer.encode([toPayload(MARKER), toPayload('second')]);
    clock += DATA_KEY_TTL_MS;
    const [later] = await writer.encode([toPayload('after an hour')]);
    assert.equal(kms.commandCalls(GenerateDataKeyCommand).length, 2, 'one data key per hour, not one per payload');
    assert.deepEqual(kms.commandCalls(GenerateDataKeyCommand)[0].args[0].input, {
      KeyId: arn,
      KeySpec: 'AES_256',
      EncryptionContext: { 'icetide:key': 'prod' },
    });
    assert.deepEqual(
      Buffer.from(first[0].metadata?.[WRAPPED_KEY] ?? []),
      wrap(dataKeys[0]),
      'the wrapped data key travels with the payload',
    );
    assert.ok(!visible(first[0]).includes(MARKER));

    // Another process (a CLI) reads them: KMS unwraps each data key once, with the same encryption context.
    const reader = new EncryptionCodec([kmsKey('prod', arn, new KMSClient({ region: 'eu-west-1' }))]);
    const decoded = await reader.decode([...first, later, ...first]);
    assert.deepEqual(decoded.map(fromPayload), [MARKER, 'second', 'after an hour', MARKER, 'second']);
    assert.equal(kms.commandCalls(DecryptCommand).length, 2);
    assert.deepEqual(kms.commandCalls(DecryptCommand)[0].args[0].input.EncryptionContext, { 'icetide:key': 'prod' });

    // A KMS refusal names the key, the ARN and the error; the next payload asks KMS again.
    kms.reset();
    kms
      .on(GenerateDataKeyCommand)
      .rejectsOnce(Object.assign(new Error('not authorized'), { name: 'AccessDeniedException' }))
      .resolves({ Plaintext: dataKeys[0], CiphertextBlob: wrap(dataKeys[0]) });
    const fresh = new EncryptionCodec([kmsKey('prod', arn, new KMSClient({ region: 'eu-west-1' }))]);
    await assert.rejects(
      fresh.encode([toPayload(1)]),
      /encryption key prod: KMS GenerateDataKey with arn:aws:kms:eu-west-1:123456789012:key\/1234abcd-12ab-34cd-56ef-1234567890ab failed: AccessDeniedException/,
    );
    await fresh.encode([toPayload(1)]);
    kms.restore();
  });

  it("encodes failures: the message and stack go into an encrypted payload, history's message says only Encoded failure", async () => {
    const converter = projectDataConverter({ keys: [{ id: 'a', env: 'KEY_A' }] }, env);
    assert.ok(converter);
    const loaded = loadDataConverter(converter);
    const failure = await encodeErrorToFailure(
      loaded,
      ApplicationFailure.nonRetryable(`table shop.${MARKER}: step plan failed`, 'Refused'),
    );
    assert.equal(failure.message, 'Encoded failure');
    assert.ok(!JSON.stringify(failure).includes(MARKER));
    assert.ok(!text(failure.encodedAttributes?.data).includes(MARKER));
    const back = await decodeOptionalFailureToOptionalError(loaded, failure);
    assert.equal(back?.message, `table shop.${MARKER}: step plan failed`);
  });
});
