/**
 * Starts a real control server on 127.0.0.1 port 0 with hand-written fakes: a mutable health report, a
 * recorded list of triggers, the sample status and a pino logger writing into a string (so tests can
 * assert that no secret was logged).
 */
import { pino } from 'pino';
import { createMetrics } from '../../../controller/server/metrics.js';
import { startControlServer, type ControlServer, type ControlServerOptions, type HealthReport } from '../../../controller/server/http.js';
import type { ControllerStatus } from '../../../controller/reconcile/status.js';
import { sampleStatus } from './sample-status.js';
import { AuthGuard } from '../../../controller/server/auth-guard.js';

/** A running server and what its fakes saw. */
export interface Harness {
  server: ControlServer;
  url: string;
  triggers: ('manual' | 'webhook')[];
  health: HealthReport;
  status: ControllerStatus;
  /** Everything logged so far (pino JSON lines). */
  logs(): string;
}

/** The fixed time the harness renders with. */
export const HARNESS_NOW = new Date('2026-11-25T14:00:00.000Z');

/** Starts a server; `overrides` replace options (apiToken, webhook...). */
export async function startHarness(overrides: Partial<ControlServerOptions> = {}): Promise<Harness> {
  const lines: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) });
  const h: Omit<Harness, 'server' | 'url'> = {
    triggers: [],
    health: { live: true, ready: true },
    status: sampleStatus(HARNESS_NOW),
    logs: () => lines.join(''),
  };
  const server = await startControlServer({
    listen: '127.0.0.1:0',
    status: () => h.status,
    metrics: createMetrics({ defaultMetrics: false }),
    health: () => h.health,
    trigger: (reason) => void h.triggers.push(reason),
    logger,
    now: () => HARNESS_NOW,
    // Failed-authentication slowdown has its own tests (auth-guard.test.ts); here it never gets in the way.
    authGuard: new AuthGuard({ freeFailures: 1_000_000 }),
    ...overrides,
  });
  return Object.assign(h, { server, url: server.url });
}
