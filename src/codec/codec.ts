import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import type { EncryptionSettings } from '../config/encryption';
import { KeyError, localKey, type PayloadKey } from './keys';
import { kmsKey } from './kms';

export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const KEY_ID = 'encryption-key-id';
export const WRAPPED_KEY = 'encryption-data-key';
const IV_BYTES = 12;
const TAG_BYTES = 16;

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const ProtoPayload = temporal.api.common.v1.Payload;

/**
 * Encrypts every payload (the whole Payload message, its metadata too) with AES-256-GCM under the first key, a random
 * 12-byte IV per payload. The key id rides in clear in the metadata, and is authenticated with the ciphertext, so
 * that decryption picks the key it was written with: several keys may be configured, old ones kept for reading.
 * A payload that is not encrypted (written before encryption was turned on) is decoded as it is.
 */
export class EncryptionCodec implements PayloadCodec {
  private readonly byId: Map<string, PayloadKey>;

  constructor(private readonly keys: PayloadKey[]) {
    if (!keys.length) throw new KeyError('encryption needs at least one key');
    this.byId = new Map(keys.map((key) => [key.id, key]));
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    const encrypting = this.keys[0];
    return Promise.all(
      payloads.map(async (payload) => {
        const { key, wrapped } = await encrypting.forEncryption();
        const iv = randomBytes(IV_BYTES);
        const cipher = createCipheriv('aes-256-gcm', key, iv).setAAD(encoder.encode(encrypting.id));
        const plain = ProtoPayload.encode(payload).finish();
        return {
          metadata: {
            encoding: encoder.encode(ENCRYPTED_ENCODING),
            [KEY_ID]: encoder.encode(encrypting.id),
            ...(wrapped ? { [WRAPPED_KEY]: wrapped } : {}),
          },
          data: Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]),
        };
      }),
    );
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return Promise.all(
      payloads.map(async (payload) => {
        const metadata = payload.metadata ?? {};
        if (!metadata.encoding || decoder.decode(metadata.encoding) !== ENCRYPTED_ENCODING) return payload;
        const id = metadata[KEY_ID] ? decoder.decode(metadata[KEY_ID]) : '(none)';
        const key = this.byId.get(id);
        if (!key) {
          throw new KeyError(
            `a payload is encrypted with key ${id}, which is not configured (encryption.keys: ${[...this.byId.keys()].join(', ')}): ` +
              'keep a retired key in the list for as long as histories encrypted with it are read',
          );
        }
        const data = payload.data ?? new Uint8Array();
        const decipher = createDecipheriv(
          'aes-256-gcm',
          await key.forDecryption(metadata[WRAPPED_KEY] ?? undefined),
          data.subarray(0, IV_BYTES),
        )
          .setAAD(encoder.encode(id))
          .setAuthTag(data.subarray(data.length - TAG_BYTES));
        let plain: Buffer;
        try {
          plain = Buffer.concat([decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)), decipher.final()]);
        } catch {
          throw new KeyError(`a payload encrypted with key ${id} does not decrypt: other key material under that id, or altered data`);
        }
        return ProtoPayload.decode(plain);
      }),
    );
  }
}

/** The codec of the project's `encryption` settings; key material is read (or KMS set up) here, once. */
export function encryptionCodec(settings: EncryptionSettings, env: NodeJS.ProcessEnv = process.env): EncryptionCodec {
  return new EncryptionCodec(settings.keys.map((key) => (key.kms ? kmsKey(key.id, key.kms) : localKey(key, env))));
}
