import { Readable, pipeline } from 'node:stream';
import { createGunzip } from 'node:zlib';
import {
  CopyObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  type S3Client,
} from '@aws-sdk/client-s3';

/** A change file in staging, as listed. `uri` is what the engines report as "$path". */
export interface StagedFile {
  uri: string;
  size: number;
  /** S3 LastModified, ms since epoch. */
  lastModified: number;
}

export function parseS3Uri(uri: string): { bucket: string; key: string } {
  const match = /^s3:\/\/([^/]+)\/([\s\S]*)$/.exec(uri); // a key may hold any character, newlines too
  if (!match) throw new Error(`not an s3:// URI: ${uri}`);
  return { bucket: match[1], key: match[2] };
}

/** The S3 side of staging: list, read, delete and move change files. Every operation is safe to repeat. */
export class StagingStore {
  constructor(private readonly s3: S3Client) {}

  async list(location: string): Promise<StagedFile[]> {
    const files: StagedFile[] = [];
    for await (const page of this.pages(location)) files.push(...page);
    return files;
  }

  /**
   * The objects under `location` one page (up to 1,000 keys) at a time, in key order, optionally starting after a
   * key: a caller can heartbeat per page and stop as soon as it has seen enough.
   */
  async *pages(location: string, options: { startAfter?: string } = {}): AsyncGenerator<StagedFile[]> {
    const { bucket, key: prefix } = parseS3Uri(location);
    const startAfter = options.startAfter ? parseS3Uri(options.startAfter).key : undefined;
    let token: string | undefined;
    do {
      const page = await this.s3.send(
        new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token, StartAfter: token ? undefined : startAfter }),
      );
      yield (page.Contents ?? [])
        .filter((object) => object.Key && !object.Key.endsWith('/'))
        .map((object) => ({
          uri: `s3://${bucket}/${object.Key}`,
          size: object.Size ?? 0,
          lastModified: object.LastModified?.getTime() ?? 0,
        }));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  /**
   * The file's content as a stream, gunzipped on the fly for `.gz` (DMS CompressionType GZIP): never held whole in
   * memory. A transport error mid-file reaches the reader as a stream error, not as bad content.
   */
  async open(uri: string): Promise<Readable> {
    const { bucket, key } = parseS3Uri(uri);
    const object = await this.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const body = object.Body instanceof Readable ? object.Body : Readable.from([]);
    if (!key.endsWith('.gz')) return body;
    const gunzip = createGunzip();
    pipeline(body, gunzip, () => undefined); // an error destroys gunzip with it, and its reader sees the error
    return gunzip;
  }

  /** The file as byte ranges, each fetched when asked for (ranged GETs): a Parquet footer, then its row groups. */
  ranges(uri: string, size: number): { byteLength: number; slice(start: number, end?: number): Promise<ArrayBuffer> } {
    const { bucket, key } = parseS3Uri(uri);
    return {
      byteLength: size,
      slice: async (start, end = size) => {
        if (end <= start) return new ArrayBuffer(0);
        const object = await this.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: `bytes=${start}-${end - 1}` }));
        const bytes = await object.Body!.transformToByteArray();
        return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
      },
    };
  }

  /** Deleting a file that is already gone succeeds: a retried cleanup finishes what a crashed one began. */
  async delete(uris: string[]): Promise<void> {
    for (const [bucket, keys] of groupByBucket(uris)) {
      for (let i = 0; i < keys.length; i += 1000) {
        const result = await this.s3.send(
          new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys.slice(i, i + 1000).map((Key) => ({ Key })), Quiet: true } }),
        );
        if (result.Errors?.length) {
          const first = result.Errors[0];
          throw new Error(`deleting s3://${bucket}/${first.Key} failed: ${first.Code} ${first.Message} (${result.Errors.length} errors)`);
        }
      }
    }
  }

  /**
   * Moves each file to `toLocation` + its path relative to `fromLocation` (copy, then delete). A file already gone
   * from the source but present at the destination counts as moved, so a retry after a crash completes the move.
   */
  async move(uris: string[], fromLocation: string, toLocation: string): Promise<void> {
    const moved: string[] = [];
    for (const uri of uris) {
      if (!uri.startsWith(fromLocation)) throw new Error(`${uri} is not under ${fromLocation}`);
      const source = parseS3Uri(uri);
      const target = parseS3Uri(toLocation + uri.slice(fromLocation.length));
      if (await this.exists(uri)) {
        await this.s3.send(
          new CopyObjectCommand({
            Bucket: target.bucket,
            Key: target.key,
            CopySource: `${source.bucket}/${encodeURIComponent(source.key).replace(/%2F/g, '/')}`,
          }),
        );
        moved.push(uri);
      } else if (!(await this.exists(`s3://${target.bucket}/${target.key}`))) {
        throw new Error(`${uri} is in neither staging nor ${toLocation}`);
      }
    }
    await this.delete(moved);
  }

  async exists(uri: string): Promise<boolean> {
    const { bucket, key } = parseS3Uri(uri);
    try {
      await this.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      return true;
    } catch (err) {
      if (
        (err as { name?: string }).name === 'NotFound' ||
        (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404
      )
        return false;
      throw err;
    }
  }
}

function groupByBucket(uris: string[]): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  for (const uri of uris) {
    const { bucket, key } = parseS3Uri(uri);
    groups.set(bucket, [...(groups.get(bucket) ?? []), key]);
  }
  return groups;
}
