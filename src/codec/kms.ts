import { DecryptCommand, GenerateDataKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { KMS_ARN } from '../config/encryption';
import { awsCredentialChain } from '../deps';
import { KeyError, type DataKey, type PayloadKey } from './keys';

/** How long one data key encrypts before KMS is asked for a new one (a KMS call per payload would be slow and costly). */
export const DATA_KEY_TTL_MS = 60 * 60 * 1000;
/** Unwrapped data keys kept for decryption; a worker reads the payloads of a few recent data keys at a time. */
const UNWRAPPED_CACHE = 256;

/**
 * Envelope encryption under a KMS key: payloads are encrypted with a data key from GenerateDataKey (reused for
 * DATA_KEY_TTL_MS), and the data key, wrapped by KMS, travels in the payload's metadata; decryption unwraps it with
 * KMS Decrypt, once per data key. The encryption context binds each data key to this key id.
 */
export function kmsKey(id: string, arn: string, client: KMSClient = kmsClientFor(arn), now: () => number = Date.now): PayloadKey {
  const context = { 'icetide:key': id };
  let current: { key: Promise<DataKey>; until: number } | undefined;
  const unwrapped = new Map<string, Promise<Buffer>>();
  /** A KMS call; its failure names the key, the ARN and KMS's error. */
  const call = async <T>(what: string, send: () => Promise<T>): Promise<T> => {
    try {
      return await send();
    } catch (err) {
      throw new KeyError(`encryption key ${id}: KMS ${what} with ${arn} failed: ${(err as Error).name}: ${(err as Error).message}`);
    }
  };
  const generate = async (): Promise<DataKey> => {
    const out = await call('GenerateDataKey', () =>
      client.send(new GenerateDataKeyCommand({ KeyId: arn, KeySpec: 'AES_256', EncryptionContext: context })),
    );
    if (!out.Plaintext || !out.CiphertextBlob) throw new KeyError(`encryption key ${id}: KMS GenerateDataKey returned no key`);
    return { key: Buffer.from(out.Plaintext), wrapped: out.CiphertextBlob };
  };
  const unwrap = async (wrapped: Uint8Array): Promise<Buffer> => {
    const out = await call('Decrypt', () =>
      client.send(new DecryptCommand({ CiphertextBlob: wrapped, KeyId: arn, EncryptionContext: context })),
    );
    if (!out.Plaintext) throw new KeyError(`encryption key ${id}: KMS Decrypt returned no key`);
    return Buffer.from(out.Plaintext);
  };

  return {
    id,
    forEncryption() {
      if (!current || now() >= current.until) {
        const key = generate();
        current = { key, until: now() + DATA_KEY_TTL_MS };
        // A failed request is not cached: the next payload asks again.
        key.catch(() => {
          if (current?.key === key) current = undefined;
        });
      }
      return current.key;
    },
    forDecryption(wrapped) {
      if (!wrapped) return Promise.reject(new KeyError(`encryption key ${id}: the payload carries no wrapped data key`));
      const cacheKey = Buffer.from(wrapped).toString('base64');
      let key = unwrapped.get(cacheKey);
      if (!key) {
        key = unwrap(wrapped);
        key.catch(() => unwrapped.delete(cacheKey));
        unwrapped.set(cacheKey, key);
        if (unwrapped.size > UNWRAPPED_CACHE) unwrapped.delete(unwrapped.keys().next().value as string);
      }
      return key;
    },
  };
}

/** A KMS client in the key's own region, on AWS's standard credential chain. */
const kmsClientFor = (arn: string): KMSClient => new KMSClient({ region: KMS_ARN.exec(arn)?.[1], credentials: awsCredentialChain() });
