/**
 * Raw HTTP helpers for the simulator tests: undici `request` plus an OAuth 1.0a signer written here
 * with node:crypto (independent of controller/sim/oauth.ts, so the tests check the simulator's
 * verification rather than reuse it).
 */
import { createHmac, randomBytes } from 'node:crypto';
import { request } from 'undici';
import type { ServerToken } from '../../../controller/dep/types.js';
import type { RunningSimulator } from '../../../controller/sim/api.js';

/** A response with its body read as text (and parsed when JSON). */
export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: unknown;
}

const pct = (s: string): string => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** Options of one signed /session request. */
export interface SignOptions {
  nonce?: string;
  timestamp?: number;
  realm?: boolean;
  /** Overrides the consumer secret used to sign (to forge a bad signature). */
  consumerSecret?: string;
  consumerKey?: string;
}

/** Builds `Authorization: OAuth …` for GET `url` (RFC 5849 HMAC-SHA1). */
export function oauthHeader(token: ServerToken, url: string, o: SignOptions = {}): string {
  const params: Record<string, string> = {
    oauth_consumer_key: o.consumerKey ?? token.consumer_key,
    oauth_token: token.access_token,
    oauth_signature_method: 'HMAC-SHA1',
    oauth_timestamp: String(o.timestamp ?? Math.floor(Date.now() / 1000)),
    oauth_nonce: o.nonce ?? randomBytes(12).toString('hex'),
    oauth_version: '1.0',
  };
  const normalized = Object.keys(params)
    .sort()
    .map((k) => `${pct(k)}=${pct(params[k] as string)}`)
    .join('&');
  const base = `GET&${pct(url)}&${pct(normalized)}`;
  const key = `${pct(o.consumerSecret ?? token.consumer_secret)}&${pct(token.access_secret)}`;
  const signature = createHmac('sha1', key).update(base).digest('base64');
  const all = { ...params, oauth_signature: signature };
  const fields = Object.entries(all).map(([k, v]) => `${k}="${pct(v)}"`);
  return `OAuth ${o.realm ? 'realm="ADM", ' : ''}${fields.join(', ')}`;
}

/** Sends one request to the simulator. */
export async function call(sim: RunningSimulator, method: string, path: string, opts: { body?: unknown; rawBody?: string; session?: string; headers?: Record<string, string>; version?: number } = {}): Promise<RawResponse> {
  const headers: Record<string, string> = {
    'user-agent': 'depctl-tests/1',
    'x-server-protocol-version': String(opts.version ?? 10),
    'content-type': 'application/json;charset=UTF8',
    ...(opts.session !== undefined ? { 'x-adm-auth-session': opts.session } : {}),
    ...opts.headers,
  };
  const body = opts.rawBody ?? (opts.body !== undefined ? JSON.stringify(opts.body) : undefined);
  const res = await request(`${sim.url}${path}`, { method: method as 'GET', headers, body });
  const text = await res.body.text();
  let json: unknown;
  try {
    json = JSON.parse(text) as unknown;
  } catch {
    json = undefined;
  }
  return { status: res.statusCode, headers: res.headers, text, json };
}

/** Authenticates with a correctly signed GET /session and returns the session token. */
export async function session(sim: RunningSimulator, o: SignOptions = {}): Promise<string> {
  const r = await call(sim, 'GET', '/session', { headers: { authorization: oauthHeader(sim.token, `${sim.url}/session`, { timestamp: Math.floor(sim.inspect.now() / 1000), ...o }) } });
  if (r.status !== 200) throw new Error(`session failed: ${r.status} ${r.text}`);
  return (r.json as { auth_session_token: string }).auth_session_token;
}

/** Fetch page shape. */
export interface Page {
  cursor: string;
  devices: { serial_number: string; op_type?: string; op_date?: string; profile_status?: string; profile_uuid?: string; device_assigned_date?: string }[];
  fetched_until: string;
  more_to_follow: boolean;
}
