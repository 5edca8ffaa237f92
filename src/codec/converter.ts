import type { DataConverter } from '@temporalio/common';
import type { EncryptionSettings } from '../config/encryption';
import { encryptionCodec } from './codec';

/**
 * The data converter of every worker and client of a project: with `encryption`, payloads through the codec and
 * failures with their messages encoded (failures.ts); without it, Temporal's defaults.
 */
export function projectDataConverter(
  encryption: EncryptionSettings | undefined,
  env: NodeJS.ProcessEnv = process.env,
): DataConverter | undefined {
  if (!encryption) return undefined;
  return { payloadCodecs: [encryptionCodec(encryption, env)], failureConverterPath: require.resolve('./failures') };
}
