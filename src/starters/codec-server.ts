import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Payload, PayloadCodec } from '@temporalio/common';

/** A request body larger than this is refused (a page of history's payloads is far smaller). */
const MAX_BODY_BYTES = 64 * 1024 * 1024;

export interface CodecServerOptions {
  codec: PayloadCodec;
  /** Origins whose pages may call the server (the Temporal UI's): answered with CORS headers, others without. */
  origins: string[];
  /** When set, every request must carry `Authorization: Bearer <token>`. */
  token?: string;
}

/** A payload as Temporal's codec endpoints send it: JSON, metadata values and data in base64. */
interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

class BadRequest extends Error {}

const fromJson = (payload: JsonPayload): Payload => ({
  metadata: Object.fromEntries(Object.entries(payload.metadata ?? {}).map(([key, value]) => [key, Buffer.from(value, 'base64')])),
  data: Buffer.from(payload.data ?? '', 'base64'),
});

const toJson = (payload: Payload): JsonPayload => ({
  metadata: Object.fromEntries(
    Object.entries(payload.metadata ?? {}).map(([key, value]) => [key, Buffer.from(value ?? []).toString('base64')]),
  ),
  data: Buffer.from(payload.data ?? []).toString('base64'),
});

async function readPayloads(req: IncomingMessage): Promise<Payload[]> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new BadRequest(`the body is larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  let body: unknown;
  try {
    body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new BadRequest('the body is not JSON');
  }
  const payloads = (body as { payloads?: unknown } | null)?.payloads;
  if (!Array.isArray(payloads) || payloads.some((p) => typeof p !== 'object' || p === null))
    throw new BadRequest('the body is not {"payloads": [...]}');
  return (payloads as JsonPayload[]).map(fromJson);
}

/** Compares digests, so that neither the length nor the content of the token leaks through timing. */
const sameToken = (given: string, expected: string): boolean =>
  timingSafeEqual(createHash('sha256').update(given).digest(), createHash('sha256').update(expected).digest());

/**
 * Temporal's remote codec endpoints (POST /encode and /decode, `{"payloads": [...]}` in and out), so that the Temporal
 * UI and the `temporal` CLI show decoded payloads to those who may read them: the UI's origin (CORS), and with a token
 * only requests bearing it. Errors name the key or the request's problem, never a payload.
 */
export function createCodecServer({ codec, origins, token }: CodecServerOptions): Server {
  const allowed = new Set(origins.map((origin) => new URL(origin).origin));
  return createServer((req, res) => {
    void handle(req, res).catch((err: unknown) => reply(res, err instanceof BadRequest ? 400 : 500, { message: (err as Error).message }));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const origin = req.headers.origin;
    if (origin && allowed.has(origin)) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Access-Control-Allow-Credentials', 'true');
    }
    res.setHeader('Vary', 'Origin');
    const path = new URL(req.url ?? '/', 'http://codec').pathname.replace(/\/+$/, '');
    const operation = path.endsWith('/encode') ? 'encode' : path.endsWith('/decode') ? 'decode' : undefined;
    if (req.method === 'OPTIONS') {
      // A preflight carries no credentials: it is answered for every path, the request that follows is checked.
      res.setHeader('Access-Control-Allow-Methods', 'POST, OPTIONS');
      res.setHeader('Access-Control-Allow-Headers', 'Content-Type, Authorization, X-Namespace');
      res.setHeader('Access-Control-Max-Age', '600');
      return reply(res, 204);
    }
    if (!operation) return reply(res, 404, { message: 'POST /encode or /decode' });
    if (req.method !== 'POST') return reply(res, 405, { message: `${operation} takes POST` });
    if (token !== undefined && !sameToken(req.headers.authorization ?? '', `Bearer ${token}`)) {
      res.setHeader('WWW-Authenticate', 'Bearer');
      return reply(res, 401, { message: 'a bearer token is required' });
    }
    const payloads = await readPayloads(req);
    const result = operation === 'encode' ? await codec.encode(payloads) : await codec.decode(payloads);
    reply(res, 200, { payloads: result.map(toJson) });
  }
}

function reply(res: ServerResponse, status: number, body?: object): void {
  if (body) res.setHeader('Content-Type', 'application/json');
  res.writeHead(status).end(body ? JSON.stringify(body) : undefined);
}
