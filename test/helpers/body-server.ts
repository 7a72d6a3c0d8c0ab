/**
 * A local HTTP server (port 0) for the Apple clients' response-body tests: `/chunked` streams 1,600 bytes without
 * a content-length, `/exact` sends 1,024 bytes, `/declared` 1,025 with their length; any other path gets its
 * entry of `bodies` (or nothing). Bounds under test are 1,024 bytes.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface BodyServer {
  url: string;
  close(): Promise<void>;
}

export async function startBodyServer(bodies: Record<string, Buffer> = {}): Promise<BodyServer> {
  const server = createServer((req, res) => {
    if (req.url === '/chunked') {
      for (let i = 0; i < 4; i++) res.write('x'.repeat(400));
      res.end();
      return;
    }
    if (req.url === '/exact') return res.end('y'.repeat(1024));
    if (req.url === '/declared') return res.end('z'.repeat(1025));
    res.end(bodies[req.url ?? ''] ?? '');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Collects uncaught exceptions while `work` runs (a body given up must not raise one). */
export async function uncaughtDuring(work: () => Promise<void>): Promise<unknown[]> {
  const uncaught: unknown[] = [];
  const onUncaught = (err: unknown): void => void uncaught.push(err);
  process.on('uncaughtException', onUncaught);
  try {
    await work();
  } finally {
    process.off('uncaughtException', onUncaught);
  }
  return uncaught;
}
