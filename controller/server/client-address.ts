/**
 * The address of the client behind a request, for the per-client limits (auth-guard.ts, the remote plan's rate
 * limit) and the logs. Behind a reverse proxy or an ingress every request comes from the proxy, so one client
 * failing authentication would block all of them; the operator names the proxies it runs
 * (`--trusted-proxy CIDR`, env `DEPCTL_TRUSTED_PROXIES`), and for a request from one of them the client is the
 * right-most `X-Forwarded-For` entry that is not a trusted proxy. The header of a peer that is not trusted is
 * ignored, so a client cannot choose its own address. Subnets are matched by node's `net.BlockList`.
 */
import type { IncomingMessage } from 'node:http';
import { BlockList, isIP } from 'node:net';

/** Most `X-Forwarded-For` entries looked at (right to left); a longer chain is no proxy setup anyone runs. */
const MAX_HOPS = 20;

/** The operator's trusted proxies. */
export interface TrustedProxies {
  /** Whether `address` is one of them. */
  has(address: string): boolean;
}

/** `::ffff:10.0.0.1` (an IPv4 peer on a dual-stack socket) as `10.0.0.1`; other addresses unchanged. */
export function normaliseAddress(address: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return m?.[1] ?? address;
}

/**
 * Parses `10.0.0.0/8`, `fd00::/8` or a single address (`127.0.0.1`); throws an Error naming the first entry
 * that is none of these.
 */
export function parseTrustedProxies(entries: readonly string[]): TrustedProxies {
  const list = new BlockList();
  for (const raw of entries) {
    const entry = raw.trim();
    if (entry === '') continue;
    const [addr = '', bits, extra] = entry.split('/');
    const family = isIP(addr);
    const max = family === 4 ? 32 : 128;
    const prefix = bits === undefined ? max : /^\d{1,3}$/.test(bits) ? Number(bits) : NaN;
    if (family === 0 || extra !== undefined || !(prefix >= 0 && prefix <= max)) {
      throw new Error(`invalid trusted proxy "${entry}": expected an IPv4 or IPv6 address or subnet (10.0.0.0/8, fd00::/8)`);
    }
    list.addSubnet(addr, prefix, family === 4 ? 'ipv4' : 'ipv6');
  }
  return {
    has(address: string): boolean {
      const a = normaliseAddress(address);
      const family = isIP(a);
      return family !== 0 && list.check(a, family === 4 ? 'ipv4' : 'ipv6');
    },
  };
}

/**
 * The client address of `req`: the socket's peer, or, when the peer is a trusted proxy, the right-most
 * `X-Forwarded-For` entry that is not (the left-most one when all are). A malformed entry ends the walk at the
 * last address known good, so garbage in the header never becomes the client's identity.
 */
export function clientAddress(req: IncomingMessage, trusted: TrustedProxies | null): string {
  const peer = normaliseAddress(req.socket.remoteAddress ?? 'unknown');
  if (!trusted || !trusted.has(peer)) return peer;
  const header = req.headers['x-forwarded-for'];
  const hops = (Array.isArray(header) ? header.join(',') : (header ?? ''))
    .split(',')
    .map((h) => h.trim())
    .filter((h) => h !== '');
  let client = peer;
  for (let i = hops.length - 1, seen = 0; i >= 0 && seen < MAX_HOPS; i--, seen++) {
    const hop = normaliseAddress(hops[i] as string);
    if (isIP(hop) === 0) return client;
    client = hop;
    if (!trusted.has(hop)) return hop;
  }
  return client;
}
