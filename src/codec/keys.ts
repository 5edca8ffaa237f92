import { readFileSync } from 'node:fs';
import type { KeySettings } from '../config/encryption';

/** The AES-256 key a payload is encrypted with and, for an envelope key, the data key wrapped by KMS (stored beside it). */
export interface DataKey {
  key: Buffer;
  wrapped?: Uint8Array;
}

/** One configured key: gives the key to encrypt with, and finds the key a payload was encrypted with. */
export interface PayloadKey {
  readonly id: string;
  forEncryption(): Promise<DataKey>;
  /** `wrapped`: the data key stored beside the payload (envelope keys need it, local keys have none). */
  forDecryption(wrapped: Uint8Array | undefined): Promise<Buffer>;
}

/** A problem of the configured keys, named by key id and source; never their material. */
export class KeyError extends Error {}

const KEY_BYTES = 32;

/** 32 bytes written as 64 hex digits or as base64 (surrounding white space, such as a file's last newline, ignored). */
export function parseKeyMaterial(text: string, where: string): Buffer {
  const trimmed = text.trim();
  const bytes = /^[0-9a-fA-F]{64}$/.test(trimmed)
    ? Buffer.from(trimmed, 'hex')
    : /^[A-Za-z0-9+/]+={0,2}$/.test(trimmed)
      ? Buffer.from(trimmed, 'base64')
      : undefined;
  if (bytes?.length !== KEY_BYTES)
    throw new KeyError(`${where} does not hold an AES-256 key: 32 bytes, written as 64 hex digits or as base64 (openssl rand -base64 32)`);
  return bytes;
}

/** A key whose material the deployment holds (an environment variable or a file), read once when the codec is built. */
export function localKey(settings: KeySettings, env: NodeJS.ProcessEnv = process.env): PayloadKey {
  const where = settings.env
    ? `encryption key ${settings.id}: environment variable ${settings.env}`
    : `encryption key ${settings.id}: file ${settings.file}`;
  let text: string | undefined;
  if (settings.env) text = env[settings.env];
  else {
    try {
      text = readFileSync(settings.file ?? '', 'utf8');
    } catch (err) {
      throw new KeyError(`${where} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  }
  if (!text) throw new KeyError(`${where} is not set`);
  const key = parseKeyMaterial(text, where);
  return { id: settings.id, forEncryption: () => Promise.resolve({ key }), forDecryption: () => Promise.resolve(key) };
}
