/**
 * Small HTTP helpers shared by the simulator's routes: JSON replies with Apple's content type,
 * plain-text error codes, and bounded body reading.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { DEP_CONTENT_TYPE } from '../dep/types.js';

/** Largest request body accepted (1000 serials are about 16 KiB; profiles with certs a bit more). */
export const MAX_BODY_BYTES = 4 * 1024 * 1024;

/** Marker returned by readJson for a body that is not JSON (Apple: 400 MALFORMED_REQUEST_BODY). */
export const MALFORMED = Symbol('malformed');

/** Sends a JSON body with `Content-Type: application/json;charset=UTF8`, as Apple does. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': DEP_CONTENT_TYPE, 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/**
 * Sends an error the way Apple does: the status and a plain-text body holding one code (e.g.
 * `EXPIRED_CURSOR`). Clients match it by substring (dep-protocol.md §4).
 */
export function sendError(res: ServerResponse, status: number, code: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': 'text/plain;charset=UTF8', 'Content-Length': Buffer.byteLength(code), ...headers });
  res.end(code);
}

/** Reads the whole body; resolves undefined when it exceeds MAX_BODY_BYTES. */
export async function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const b = chunk as Buffer;
    size += b.length;
    if (size > MAX_BODY_BYTES) return undefined;
    chunks.push(b);
  }
  return Buffer.concat(chunks);
}

/** Parses a JSON body; an empty body is `{}` so that missing fields give Apple's *_REQUIRED codes. */
export function parseJson(body: Buffer): unknown {
  const text = body.toString('utf8').trim();
  if (text === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return MALFORMED;
  }
}

/** Narrows to a plain JSON object. */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
