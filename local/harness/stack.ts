import { execFileSync, spawn } from 'node:child_process';
import path from 'node:path';
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';

export const repoRoot = path.resolve(__dirname, '..', '..');
const stackScript = path.join(repoRoot, 'local', 'stack.sh');

type Service = 'temporal' | 'minio' | 'trino';

export const stack = (command: 'up' | 'down' | 'status' | 'env' | 'kill', ...services: Service[]): string =>
  execFileSync('bash', [stackScript, command, ...services], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });

/** `stack.sh up` after a pause, in the background (a fault test's restart); resolves once the stack is healthy. */
export function stackUpAfter(delayMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    setTimeout(() => {
      const child = spawn('bash', [stackScript, 'up'], { stdio: ['ignore', 'ignore', 'inherit'] });
      child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`stack.sh up exited ${code}`))));
    }, delayMs);
  });
}

export function stackIsUp(): boolean {
  try {
    stack('status');
    return true;
  } catch {
    return false;
  }
}

/** Puts the stack's addresses into process.env, where loadRuntimeConfig reads them. */
export function exportStackEnv(): void {
  for (const [, key, value] of stack('env').matchAll(/^export (\w+)=(.*)$/gm)) process.env[key] ??= value;
}

export async function ensureBucket(s3: S3Client, bucket: string): Promise<void> {
  try {
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (err) {
    if (!['BucketAlreadyOwnedByYou', 'BucketAlreadyExists'].includes((err as Error).name)) throw err;
  }
}
