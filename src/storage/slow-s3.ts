import type { ListObjectsV2CommandInput, S3Client } from '@aws-sdk/client-s3';
import { setTimeout as sleep } from 'node:timers/promises';
import { drawMillis, type SlowS3Settings } from '../config/slow';

/**
 * Gives an S3 client production's pace, for slow-mode tests: every request waits `latency` first, and a listing
 * returns at most `page` keys a page whatever the caller asks (S3 lists 1,000; a smaller page shows, with few files,
 * that every page is followed). A middleware, so every caller of the client is slowed alike.
 */
export function slowS3(client: S3Client, settings: SlowS3Settings, random: () => number = Math.random): S3Client {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === 'ListObjectsV2Command') {
        const input = args.input as ListObjectsV2CommandInput;
        input.MaxKeys = Math.min(input.MaxKeys ?? settings.page, settings.page);
      }
      await sleep(drawMillis(settings.latency, random));
      return next(args);
    },
    { step: 'initialize', name: 'icetideSlowS3' },
  );
  return client;
}
