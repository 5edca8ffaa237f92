import { z } from 'zod';

/**
 * A KMS key by ARN (a key, or an alias): the region and account come from it, and the IAM policy names it
 * (starters/iam-policy.ts). A bare key id or alias name would leave both to guesswork.
 */
export const KMS_ARN = /^arn:aws[a-z-]*:kms:([a-z0-9-]+):(\d{12}):(key\/[A-Za-z0-9-]+|alias\/[A-Za-z0-9/_-]+)$/;

/**
 * One key of `encryption.keys`: its id (written, in clear, beside every payload it encrypts, so that decryption picks
 * it after a rotation) and where its material is: an environment variable or a file holding 32 bytes (base64 or
 * hex), or a KMS key that wraps a data key per worker (envelope encryption).
 */
const keySchema = z
  .strictObject({
    id: z.string().regex(/^[A-Za-z0-9._:-]{1,64}$/, 'a key id of letters, digits, . _ : or - (at most 64): it is stored in clear'),
    env: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'the name of an environment variable')
      .optional(),
    file: z.string().min(1).optional(),
    kms: z.string().regex(KMS_ARN, 'a KMS key ARN (arn:aws:kms:region:account:key/id or :alias/name)').optional(),
  })
  .refine((key) => [key.env, key.file, key.kms].filter((source) => source !== undefined).length === 1, {
    message: 'name one source of the key: env, file or kms',
  });

export const encryptionSchema = z
  .strictObject({
    /** The first key encrypts; every key decrypts. Rotate by putting a new key first and keeping the old ones. */
    keys: z.array(keySchema).min(1, 'at least one key'),
  })
  .superRefine(({ keys }, ctx) => {
    const seen = new Set<string>();
    for (const [index, { id }] of keys.entries()) {
      if (seen.has(id)) ctx.addIssue({ code: 'custom', message: `key id ${id} is used twice`, path: ['keys', index, 'id'] });
      seen.add(id);
    }
  });

export type EncryptionSettings = z.infer<typeof encryptionSchema>;
export type KeySettings = EncryptionSettings['keys'][number];
