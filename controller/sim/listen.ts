/**
 * The simulator's HTTP listener: one node:http server whose handler never crashes the process, and
 * a close that also drops keep-alive connections so tests and `depctl sim` stop at once.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Handles one request; `url` is already parsed. */
export type RequestHandler = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void>;

/** A listening server. */
export interface Listener {
  /** `http://host:port`, IPv6 hosts in brackets. */
  url: string;
  close(): Promise<void>;
}

/** Whether a path belongs to the admin endpoints (admin.ts) rather than Apple's API. */
export function isAdminPath(url: URL): boolean {
  return url.pathname === '/_sim' || url.pathname.startsWith('/_sim/');
}

/** Starts listening on `host:port` (port 0: any free port) and resolves once it does. */
export async function listen(host: string, port: number, handle: RequestHandler): Promise<Listener> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://simulator');
    // Liveness for container health checks and probes (Apple's API has no such paths).
    if ((url.pathname === '/healthz' || url.pathname === '/readyz') && (req.method === 'GET' || req.method === 'HEAD')) {
      res.writeHead(200, { 'Content-Type': 'text/plain;charset=UTF8' }).end('ok\n');
      return;
    }
    handle(req, res, url).catch(() => {
      // A handler bug must not crash the process: answer 500 if nothing was sent yet.
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain;charset=UTF8' }).end('INTERNAL_SERVER_ERROR');
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${shown}:${address.port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
