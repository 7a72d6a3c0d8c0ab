import { resolve } from 'node:path';
import type { Command } from 'commander';
import { durationOption } from './duration.js';
import { examples } from './help.js';
import type { Register } from './program.js';
import { ExitCode, type CliIo } from './io.js';
import { connectServers, openState, runtimeSettings, settingsLoadOptions, trustOf, type RuntimeSettings } from './runtime.js';
import { loadConfig } from '../config/load.js';
import type { DepConfig } from '../config/types.js';
import { runPass } from '../reconcile/pass.js';
import { OrganizationClientPool, connectOrganizations, type OrganizationConnections } from './organizations.js';
import type { ObserveProgress } from '../reconcile/observe.js';
import type { ApplyProgress } from '../reconcile/apply.js';
import { adoptServers, describeAdoption, type AdoptSpec } from '../reconcile/identity.js';
import { collectAdoptSpec, fenceWrites, WRITER_LOCK, type WriteFence } from './apply.js';
import type { PassOutcome } from '../reconcile/outcome.js';
import { organizationStatuses, recentRuns, serverDetails } from '../reconcile/status-details.js';
import { ControllerLoop, DEFAULT_TIMING, type LoopEvent, type Trigger } from '../reconcile/loop.js';
import { createGitSource } from '../source/git-source.js';
import { parseRepoSpec, parseRepoUrl } from '../source/repo-spec.js';
import { createMetrics } from '../server/metrics.js';
import { TriggerRouter } from '../reconcile/trigger-relay.js';
import { openPostgresRelay } from '../store/postgres/relay.js';
import type { ControllerStatus, OrganizationStatus } from '../reconcile/status.js';
import type { TriggerRelay } from '../reconcile/ports.js';
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import { startControlServer } from '../server/http.js';
import { createPlanApi } from '../server/plan-api.js';
import { parseTrustedProxies } from '../server/client-address.js';
import { createRemotePlanner } from './remote-plan-service.js';
import { renderPlanMarkdown } from './views/plan-markdown.js';
import { healthFromStatus } from '../server/health.js';
import { createWebhookNotifier } from '../notify/webhook.js';
import { OutboxGate, OutboxSender } from '../notify/outbox.js';
import { notificationsFor } from '../notify/events.js';
import { TokenRotation } from '../tokens/rotation.js';
import { DEFAULT_RETIRED_KEY_GRACE_MS } from '../tokens/key-paths.js';
import { handleRotationEvent } from '../credentials/rotation-events.js';
import { credentialNotifications, watchCredentials, type CredentialStatus } from '../credentials/watch.js';
import { createLogger, type LogFormat, type Logger } from '../util/logger.js';
import { VERSION } from '../version.js';
import { setupEnrollment } from './run-enroll.js';

export { parseDuration } from './duration.js';

/** Floors of the controller's intervals: below them it would hammer git, Apple or the store. */
export const MIN_INTERVALS = { pollMs: 5_000, syncMs: 60_000, leaderRetryMs: 1_000 } as const;

/** The controller logs a progress line every this many pages (fetch, sync) or requests (apply). */
export const PROGRESS_LOG_EVERY = 100;

/**
 * The controller's progress: no bar in a log, but one info line per PROGRESS_LOG_EVERY pages of a fetch or
 * sync, and per PROGRESS_LOG_EVERY apply requests (100,000 devices at Apple's page size).
 */
export function progressLog(log: Pick<Logger, 'info'>, every: number = PROGRESS_LOG_EVERY): { onObserveProgress: (p: ObserveProgress) => void; onApplyProgress: (p: ApplyProgress) => void } {
  return {
    onObserveProgress: (p) => {
      if (p.pages % every === 0) log.info({ server: p.server, mode: p.mode, pages: p.pages, devices: p.devices, ...(p.total !== null ? { total: p.total } : {}) }, 'observe progress');
    },
    onApplyProgress: (p) => {
      if (p.requests % every === 0) log.info({ server: p.server, requests: p.requests, devices: p.devices, total: p.total }, 'apply progress');
    },
  };
}

/** Options of `depctl run`. */
export interface RunOptions {
  repo: string;
  branch?: string;
  ref?: string;
  path: string;
  pollInterval: number;
  syncInterval: number;
  listen: string;
  workDir: string;
  notifyUrl?: string;
  gitSshKey?: string;
  allowLarge: boolean;
  logLevel: string;
  logFormat: LogFormat;
  /** Stop after the first pass (tests, cron-style use). */
  once?: boolean;
  /** How long a stop waits for the current pass before cancelling its requests (default 25 s). */
  stopGraceMs?: number;
  /** How often a follower replica tries to take the leader lock (default 10 s). */
  leaderRetryInterval?: number;
  /**
   * `--adopt-server NAME[=UUID]`: servers whose change of MDM server the operator accepts. Carried out before the
   * first pass this process leads, and dropped once Apple has answered for them (never read from the repository).
   */
  adoptServer?: AdoptSpec[];
  /** `--public-url`: the controller's public base URL that `url: { enrollment }` expands against (else DEPCTL_PUBLIC_URL). */
  publicUrl?: string;
  /** `--enroll-ca FILE`: extra device CAs the enrollment endpoint trusts (tests and labs). */
  enrollCa?: string[];
  /** `--trusted-proxy CIDR`: proxies whose X-Forwarded-For names the client (besides DEPCTL_TRUSTED_PROXIES). */
  trustedProxy?: string[];
  /** How long a key replaced by a token renewal is kept as `<key>.retired-<date>.pem` (default 7 days). */
  retiredKeyGrace?: number;
}

/** A running controller (for tests and `depctl quickstart`). */
export interface RunningController {
  url: string;
  loop: ControllerLoop<DepConfig>;
  /** Resolves when the loop has stopped and everything is closed. */
  done: Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts the controller: git source, loop, HTTP server (health, metrics, status, webhook). Secrets for the
 * webhook, the API and git come from the environment (DEPCTL_WEBHOOK_SECRET, DEPCTL_GITLAB_TOKEN,
 * DEPCTL_API_TOKEN, DEPCTL_GIT_TOKEN); notifications go to --notify-url (or DEPCTL_NOTIFY_URL).
 */
export async function startController(opts: RunOptions, settings: RuntimeSettings, io: CliIo, logger: Logger): Promise<RunningController> {
  const now = io.now ?? (() => new Date());
  // Checked before anything starts: a mistyped subnet is a usage error, not a server that trusts nobody.
  const trustedProxies = parseTrustedProxies([...(opts.trustedProxy ?? []), ...(io.env['DEPCTL_TRUSTED_PROXIES'] ?? '').split(',')]);
  const store = await openState(settings, io);
  // Stopping ends the loop after the current pass; aborting also cancels requests in flight. A SIGTERM stops,
  // and aborts only if the pass has not finished within the grace period.
  const stopping = new AbortController();
  const abort = new AbortController();
  const metrics = createMetrics();
  const env = io.env;
  const notifyUrl = opts.notifyUrl ?? env['DEPCTL_NOTIFY_URL'];
  // Notifications go through the store's outbox (notify/outbox.ts): any replica enqueues, the leader alone sends,
  // in order, with backoff, and marks them sent, so a restart or failover neither loses nor repeats them.
  const sender = notifyUrl
    ? new OutboxSender({
        outbox: store,
        notifier: createWebhookNotifier({ url: notifyUrl }),
        now,
        leader: () => {
          const { phase, leader } = loop.current();
          return leader && phase !== 'stopping' && !stopping.signal.aborted;
        },
        events: {
          sent: (row) => {
            metrics.recordNotification('sent');
            logger.info({ notification: row.id, kind: row.notification.kind }, 'notification delivered');
          },
          failed: (row, error, next) => {
            metrics.recordNotification('failed');
            logger.warn({ notification: row.id, kind: row.notification.kind, attempts: row.attempts + 1, err: error, nextAttemptAt: next.toISOString() }, 'notification not delivered, will retry');
          },
          expired: (row) => {
            metrics.recordNotification('expired');
            logger.warn({ notification: row.id, kind: row.notification.kind, enqueuedAt: row.enqueuedAt.toISOString(), text: row.notification.text }, 'notification dropped unsent after the retention');
          },
          backlog: (n) => metrics.setNotificationBacklog(n),
          error: (err) => logger.warn({ err: err.message }, 'notification outbox unavailable; retrying on the next drain'),
        },
      })
    : undefined;
  const gate = sender ? new OutboxGate(store, now, () => void sender.drain()) : undefined;
  const drainTimer = sender ? setInterval(() => void sender.drain(), 10_000) : undefined;
  drainTimer?.unref();
  const spec = parseRepoSpec({ repo: opts.repo, ...(opts.branch ? { branch: opts.branch } : {}), ...(opts.ref ? { ref: opts.ref } : {}), path: opts.path }, io.cwd);
  const httpsRepo = ['https', 'http'].includes(parseRepoUrl(opts.repo, io.cwd).kind);
  const source = createGitSource({
    url: spec.url,
    ...(spec.branch ? { branch: spec.branch } : {}),
    ...(spec.ref ? { ref: spec.ref } : {}),
    path: spec.path,
    workDir: resolve(io.cwd, opts.workDir),
    auth: {
      // The token is for https repositories only; the source refuses it for ssh and local paths.
      ...(env['DEPCTL_GIT_TOKEN'] && httpsRepo ? { httpsToken: env['DEPCTL_GIT_TOKEN'] } : {}),
      ...(opts.gitSshKey ? { sshKeyFile: resolve(io.cwd, opts.gitSshKey) } : {}),
    },
    env,
    signal: abort.signal,
  });
  let passes = 0;
  // The operator's --adopt-server requests still to carry out (identity.ts): a pass takes them before it plans.
  let pendingAdoptions: AdoptSpec[] = [...(opts.adoptServer ?? [])];
  let credentialStatuses: CredentialStatus[] | null = null;
  // Device ownership per Organization (issue 15) as the last pass saw it; null before it.
  let ownershipStatuses: OrganizationStatus[] | null = null;
  // Token renewal (tokens/rotation.ts): renewed tokens are checked before use, a refused one never replaces a working one.
  const rotation = new TokenRotation({
    now,
    ...(opts.retiredKeyGrace !== undefined ? { retiredKeyGraceMs: opts.retiredKeyGrace } : {}),
    onEvent: (e) => handleRotationEvent(e, { log: logger, audit: (entries) => store.appendAudit(entries), now, ...(gate ? { notify: (k, n) => gate.notify(k, n) } : {}) }),
  });

  // The enrollment endpoint (issue 14, run-enroll.ts): serves the config the last pass ran with.
  const enrollment = await setupEnrollment(opts, { io, secretsDir: settings.secretsDir, ...(settings.trust ? { trust: settings.trust } : {}), store, logger, now, onAttempt: (profile, outcome) => metrics.recordEnrollment(profile, outcome) });

  // Wiring of one pass: connect (secrets are a CLI concern), run the pass (reconcile/pass.ts), then report it
  // to the logs, metrics, notifications and status. What a pass does and how it is judged lives in reconcile/.
  // Business API clients kept across passes (issue 15): one access token an hour, not one a pass.
  const orgClients = new OrganizationClientPool();
  const reconcile = async (config: DepConfig, revision: string, trigger: Trigger): Promise<PassOutcome> => {
    const log = logger.child({ revision: revision.slice(0, 12), trigger });
    const started = Date.now();
    enrollment.setConfig(config);
    // A replica whose lock went with its state store session (a failover, a cut connection) must not go on
    // writing to Apple while another replica takes over (fenceWrites).
    const fence = fenceWrites(store, 'controller', abort.signal);
    try {
      return await reconcileFenced(config, revision, trigger, log, started, fence);
    } finally {
      fence.end();
    }
  };
  const reconcileFenced = async (config: DepConfig, revision: string, trigger: Trigger, log: Logger, started: number, fence: WriteFence): Promise<PassOutcome> => {
    let conns;
    let orgs: OrganizationConnections | undefined;
    try {
      conns = await connectServers(config, settings, io, store, { now, rotation, onRequest: (server, e) => metrics.recordDepRequest({ server, ...e }) });
      // Device ownership (issue 15): each pass polls the open activities, plans and issues new ones.
      orgs = await connectOrganizations(config.organizations ?? [], settings, io, { nowMs: () => now().getTime(), pool: orgClients });
    } catch (err) {
      await conns?.close();
      metrics.recordRun('error', (Date.now() - started) / 1000);
      throw err;
    }
    try {
      if (pendingAdoptions.length > 0) {
        const adopted = await adoptServers(pendingAdoptions, conns.handles, store, { now, signal: fence.signal });
        for (const { server, result } of adopted) {
          if (result.kind === 'failed') log.warn({ server }, describeAdoption(server, result));
          else if (result.kind === 'mismatch') log.error({ server }, describeAdoption(server, result));
          else log.info({ server, adopted: result.kind === 'adopted' }, describeAdoption(server, result));
        }
        // Kept only while Apple did not answer; an adoption is never repeated on a later pass.
        pendingAdoptions = pendingAdoptions.filter((a) => adopted.some((r) => r.server === a.server && r.result.kind === 'failed'));
      }
      const tokens = new Map(conns.handles.map((h) => [h.name, h.tokenExpiresAt] as const));
      const report = await runPass(config, { handles: conns.handles, clients: conns.clients, store, now, ownership: { organizations: orgs.handles, store } }, {
        commit: revision,
        // An apply's notifications are stored with its run's end (one transaction); enqueued again below, the
        // outbox keeps one per key.
        ...(gate ? { notifications: (plan, apply, outcome) => notificationsFor(plan, apply, outcome, tokens, now()) } : {}),
        trigger,
        allowLarge: opts.allowLarge,
        signal: fence.signal,
        beforeWrite: fence.beforeWrite,
        beforeApply: (plan) => {
          log.info({ ...plan.summary }, 'applying changes');
          return true;
        },
        onSettleError: (server, err) => log.warn({ server, err: err.message }, 'sync after apply failed'),
        ...progressLog(log),
      });
      const { outcome } = report;
      for (const p of outcome.problems) log.error({ server: p.server, kind: p.kind, reason: p.reason }, p.message);
      for (const o of report.plan.organizations ?? []) {
        if (o.error !== null) log.error({ organization: o.organization }, o.error);
        else log.info({ organization: o.organization, changes: o.changeCount, inProgress: o.inProgress.length, drift: o.drift.length }, 'organization planned');
      }
      for (const p of report.ownershipPolls) {
        for (const c of p.closed) log.info({ organization: p.organization, activity: c.activityId, status: c.status, succeeded: c.succeeded, failed: c.failed }, 'activity finished');
      }
      for (const o of report.plan.organizations ?? []) {
        const applied = report.ownership?.find((a) => a.organization === o.organization);
        const closed = report.ownershipPolls.find((p) => p.organization === o.organization)?.closed ?? [];
        metrics.recordOwnership({
          organization: o.organization,
          openActivities: o.inProgress.length + (applied?.activities.length ?? 0),
          pendingMoves: Math.max(0, o.changeCount - (applied?.devices ?? 0)),
          error: o.error !== null,
          moved: closed.reduce((n, c) => n + c.succeeded, 0),
          notMoved: closed.reduce((n, c) => n + c.failed, 0),
        });
      }
      for (const o of report.ownership ?? []) {
        if (o.error !== null) log.error({ organization: o.organization, stoppedBy: o.stoppedBy }, o.error);
        if (o.activities.length > 0) log.info({ organization: o.organization, activities: o.activities.length, devices: o.devices }, 'activities created');
      }
      metrics.recordRun(outcome.result, (Date.now() - started) / 1000);
      log.info({ result: outcome.result, durationMs: Date.now() - started, ...report.plan.summary }, 'reconcile pass finished');
      passes++;
      // Every yearly credential (issue 16): DEP tokens, and the declared APNs and Apps and Books credentials.
      credentialStatuses = await watchCredentials(config.credentials ?? [], conns.handles, trustOf(settings), io.env, store, now());
      for (const c of credentialStatuses) if (c.level === 'error' || c.level === 'expired') log.error({ credential: c.name, kind: c.kind }, c.message);
      if (gate) for (const { key, notification } of credentialNotifications(credentialStatuses)) await gate.notify(key, notification);
      const passNotifications = notificationsFor(report.plan, report.apply, outcome, tokens, now());
      if (gate) for (const { key, notification } of passNotifications) await gate.notify(key, notification);
      if (gate) {
        // The outbox remembers what was sent across restarts: on a server that ended this pass without a problem,
        // terms and drift situations not seen again are over, so one that comes back later is notified again.
        const seen = new Set(passNotifications.map((n) => n.key));
        for (const s of outcome.servers) {
          if (s.problem !== null) continue;
          await gate.settle(`terms:${s.server}`, seen);
          await gate.settle(`drift:${s.server}:`, seen);
        }
      }
      // Older notifications still waiting (a receiver that was down) go out after each pass too, not only on the timer.
      void sender?.drain();
      ownershipStatuses = report.plan.organizations ? organizationStatuses(report.plan, outcome.organizations ?? []) : null;
      loop.setDetails(await serverDetails(config.servers, store, now(), { plan: report.plan, servers: outcome.servers }, { renewal: (name) => rotation.status(name) }), await recentRuns(store));
      await enrollment.refresh();
      return outcome;
    } catch (err) {
      metrics.recordRun('error', (Date.now() - started) / 1000);
      throw err;
    } finally {
      await conns.close();
      await orgs.close();
    }
  };

  const loop: ControllerLoop<DepConfig> = new ControllerLoop<DepConfig>(
    {
      source,
      validate: async (dir) => {
        const r = await loadConfig(dir, { ...settingsLoadOptions(settings), ...(enrollment.publicUrl ? { publicUrl: enrollment.publicUrl } : {}) });
        if (r.config) return { ok: true, config: r.config };
        const first = r.problems.filter((p) => p.severity === 'error').slice(0, 3);
        return { ok: false, message: `${r.errorCount} validation error(s): ${first.map((p) => `${p.file}:${p.line}:${p.column}: ${p.message}`).join('; ')}` };
      },
      reconcile,
      leadership: {
        // The same lock `depctl apply` takes, so an apply and the controller never write at once.
        tryAcquire: () => store.tryAcquireLeadership(WRITER_LOCK, 'controller'),
        release: () => store.releaseLeadership(WRITER_LOCK),
      },
      now,
      random: Math.random,
      version: VERSION,
      // A follower shows what the leader wrote to the shared store: servers, devices per profile, recent runs.
      onFollowerRound: async () => {
        loop.setDetails(await serverDetails(await store.listServers(), store, now()), await recentRuns(store));
      },
      onEvent: (e) => {
        void onEvent(e, logger, gate);
        // A replica that takes over sends what the previous leader left unsent.
        if (e.kind === 'leadership' && e.leader) void sender?.drain();
        if (e.kind === 'pass' && opts.once) void stop();
      },
    },
    { ...DEFAULT_TIMING, pollIntervalMs: opts.pollInterval, syncIntervalMs: opts.syncInterval, leaderRetryMs: opts.leaderRetryInterval ?? DEFAULT_TIMING.leaderRetryMs },
  );
  // HA: a trigger that reaches a follower is relayed to the leader over the store (reconcile/trigger-relay.ts).
  const replica = `${hostname()}/${process.pid}/${randomUUID().slice(0, 8)}`;
  const relay: TriggerRelay | null = store.backend === 'postgres'
    ? await openPostgresRelay(settings.stateUrl, {
      onHealth: (h) => (h.up ? logger.info({ channel: 'trigger-relay' }, 'trigger relay up: followers hand webhooks and manual triggers to the leader') : logger.warn({ channel: 'trigger-relay', reason: h.reason }, 'trigger relay down: this replica answers triggers it cannot run with 503 until it reconnects')),
    })
    : null;
  const router = new TriggerRouter({
    replica,
    relay,
    noRelayReason: `${store.backend === 'sqlite' ? 'SQLite' : 'memory'} state has no trigger relay (send triggers to the leader, or run replicas on PostgreSQL)`,
    // Unknown before the first round (queued: that round decides); a stopping replica runs no further pass.
    leader: () => {
      const { phase, leader } = loop.current();
      return phase === 'starting' ? null : phase !== 'stopping' && leader;
    },
    trigger: (t) => loop.trigger(t),
    onRelayed: (t, direction) => metrics.recordRelayedTrigger(t, direction),
    onLog: (level, fields, message) => logger[level](fields, message),
  });
  const status = (): ControllerStatus => {
    const h = router.health();
    const base = h ? { ...loop.current(), relay: h } : loop.current();
    const withOwnership = ownershipStatuses ? { ...base, organizations: ownershipStatuses } : base;
    return enrollment.decorate(credentialStatuses ? { ...withOwnership, credentials: credentialStatuses } : withOwnership);
  };
  metrics.setStatusSource(status);
  const server = await startControlServer({
    listen: opts.listen,
    status,
    metrics,
    enroll: enrollment.route,
    // Liveness fails only on a stuck pass or a long-overdue round; readiness once the first round has read the
    // repository (a leader with an invalid config is ready: its status page says why nothing is applied).
    health: () => healthFromStatus(loop.current(), now()),
    trigger: (reason, source) => router.route(reason, source),
    ...(env['DEPCTL_API_TOKEN'] ? { apiToken: env['DEPCTL_API_TOKEN'] } : {}),
    // Read authentication for the status page and /api/status (an environment variable, like the API token).
    ...(env['DEPCTL_READ_TOKEN'] ? { readToken: env['DEPCTL_READ_TOKEN'] } : {}),
    trustedProxies,
    // Plans of pull requests (GET /api/plan): the same repository and git credentials, a scratch checkout of
    // their own next to the working checkout, the trusted revision's servers, the store seen read-only.
    ...(env['DEPCTL_API_TOKEN']
      ? {
          planApi: createPlanApi({
            planner: createRemotePlanner({
              repo: {
                url: spec.url,
                path: spec.path,
                auth: {
                  ...(env['DEPCTL_GIT_TOKEN'] && httpsRepo ? { httpsToken: env['DEPCTL_GIT_TOKEN'] } : {}),
                  ...(opts.gitSshKey ? { sshKeyFile: resolve(io.cwd, opts.gitSshKey) } : {}),
                },
                env,
              },
              scratchDir: `${resolve(io.cwd, opts.workDir)}-plans`,
              trusted: () => loop.trusted(),
              store,
              settings,
              io,
              now,
            }),
            renderMarkdown: renderPlanMarkdown,
          }),
        }
      : {}),
    webhook: {
      ...(env['DEPCTL_WEBHOOK_SECRET'] ? { githubSecret: env['DEPCTL_WEBHOOK_SECRET'] } : {}),
      ...(env['DEPCTL_GITLAB_TOKEN'] ? { gitlabToken: env['DEPCTL_GITLAB_TOKEN'] } : {}),
    },
    logger,
    now,
  });
  logger.info({ url: server.url, source: source.describe(), state: settings.stateUrl.replace(/\/\/[^@]*@/, '//***@') }, 'depctl controller started');

  let graceTimer: NodeJS.Timeout | undefined;
  function stop(): Promise<void> {
    if (!stopping.signal.aborted) {
      stopping.abort();
      graceTimer = setTimeout(() => abort.abort(), opts.stopGraceMs ?? 25_000);
      graceTimer.unref();
    }
    return done;
  }
  const done: Promise<void> = (async () => {
    try {
      await loop.run(stopping.signal);
    } finally {
      clearTimeout(graceTimer);
      clearInterval(drainTimer);
      abort.abort();
      await sender?.drain();
      await server.close();
      router.close();
      await relay?.close();
      await orgClients.close();
      await store.close();
      logger.info({ passes }, 'depctl controller stopped');
    }
  })();
  return { url: server.url, loop, done, stop };
}

async function onEvent(e: LoopEvent, logger: Logger, gate: OutboxGate | undefined): Promise<void> {
  switch (e.kind) {
    case 'revision-refused':
      logger.warn({ revision: e.revision.slice(0, 12) }, `revision refused: ${e.message}`);
      try {
        await gate?.notify(`refused:${e.revision}`, { kind: 'revision-refused', severity: 'warning', server: null, text: `depctl: revision ${e.revision.slice(0, 12)} was refused and not applied: ${e.message}` });
      } catch (err) {
        logger.warn({ err: (err as Error).message }, 'notification not stored in the outbox');
      }
      return;
    case 'source-error':
      logger.warn(e.message);
      return;
    case 'pass-error':
      logger.error({ revision: e.revision.slice(0, 12) }, `reconcile pass failed: ${e.message}`);
      return;
    case 'leadership':
      logger.info({ leader: e.leader }, e.leader ? 'this replica is now the leader' : 'this replica is a follower');
      return;
    case 'pass':
      return;
  }
}

/** Registers `depctl run`. */
export const registerRun: Register = (program, io, setExit) => {
  program
    .command('run')
    .description('the controller: keep Apple in line with a git repository, serve health, metrics, status and a webhook')
    .requiredOption('--repo <url|path>', 'config repository: https URL (token from DEPCTL_GIT_TOKEN), ssh URL, or a local path')
    .option('--branch <branch>', 'branch to follow (default: the remote default branch)')
    .option('--ref <ref>', 'tag or commit to pin instead of a branch')
    .option('--path <subdir>', 'sub-directory of the repository holding the config', '.')
    .addOption(durationOption('--poll-interval <duration>', 'how often git is polled: 90s, 1m30s, 1h', DEFAULT_TIMING.pollIntervalMs, MIN_INTERVALS.pollMs))
    .addOption(durationOption('--sync-interval <duration>', 'how often Apple is synced when nothing else happens', DEFAULT_TIMING.syncIntervalMs, MIN_INTERVALS.syncMs))
    .option('--listen <host:port>', 'HTTP address for health, metrics, status and the webhook (env DEPCTL_LISTEN)')
    .option('--work-dir <dir>', 'where the repository is checked out', '.depctl/checkout')
    .option('--notify-url <url>', 'webhook for notifications (JSON with a Slack-compatible text; env DEPCTL_NOTIFY_URL)')
    .option('--git-ssh-key <file>', 'private key for ssh repository URLs')
    .option('--allow-large', 'let changes over a server\'s maxChanges proceed', false)
    .addOption(durationOption('--leader-retry-interval <duration>', 'how often a follower replica tries to become leader (PostgreSQL state)', DEFAULT_TIMING.leaderRetryMs, MIN_INTERVALS.leaderRetryMs))
    .option('--log-level <level>', 'trace, debug, info, warn, error', 'info')
    .option('--log-format <format>', 'json or pretty', 'json')
    .option('--once', 'stop after the first reconcile pass', false)
    .option('--public-url <url>', 'public https base URL of this controller; profiles with url: { enrollment: NAME } get <url>/enroll/<profile> (env DEPCTL_PUBLIC_URL)')
    .option('--enroll-ca <file>', 'also trust this device CA (PEM) for enrollment signatures, besides Apple\'s; for tests and labs (repeatable)', (v: string, prev: string[]) => [...prev, v], [])
    .option('--trusted-proxy <cidr>', 'a reverse proxy or ingress in front of the controller (address or subnet): its X-Forwarded-For names the client for the per-client limits (repeatable; env DEPCTL_TRUSTED_PROXIES, comma-separated)', (v: string, prev: string[]) => [...prev, v], [])
    .addOption(durationOption('--retired-key-grace <duration>', 'how long the key replaced by a token renewal is kept as <key>.retired-<date>.pem before it is deleted', DEFAULT_RETIRED_KEY_GRACE_MS, 0))
    .option(
      '--adopt-server <name[=uuid]>',
      'accept, on the first pass, that the token of this server now belongs to another MDM server (stopped with server-changed): record the new server and forget the devices stored for the old one; pin the new server with =UUID so a flag left in place cannot accept a later change (repeatable)',
      collectAdoptSpec,
      [],
    )
    .addHelpText('after', examples([
      ['DEPCTL_GIT_TOKEN=… depctl run --repo https://github.com/acme/dep-config --branch main', 'follow a GitHub repository, polling every minute'],
      ['depctl run --repo /srv/dep-config --poll-interval 30s --sync-interval 5m --listen 0.0.0.0:8080', 'a local repository, with shorter intervals'],
      ['depctl run --repo ./config-repo --once', 'one pass, then exit (0 when Ready, or only device moves in progress at Apple)'],
    ]))
    .action(async (raw: Omit<RunOptions, 'listen'> & { listen?: string }, cmd: Command) => {
      const opts: RunOptions = { ...raw, listen: raw.listen ?? io.env['DEPCTL_LISTEN'] ?? '127.0.0.1:8080' };
      const logger = createLogger({ level: opts.logLevel, format: opts.logFormat === 'pretty' ? 'pretty' : 'json', write: (s) => io.stderr(s) });
      const controller = await startController(opts, runtimeSettings(cmd, io), io, logger);
      io.stdout(`depctl controller: status page ${controller.url}/  (metrics ${controller.url}/metrics)\n`);
      const stop = (): void => void controller.stop();
      const hup = (): void => controller.loop.trigger('manual');
      io.signal?.addEventListener('abort', stop);
      if (!io.signal) {
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
        process.on('SIGHUP', hup);
      }
      await controller.done;
      process.off('SIGHUP', hup);
      const ready = controller.loop.current().conditions.find((c) => c.type === 'Ready');
      // Activities Apple is still carrying out (MovesInProgress) are not a failure of this pass.
      const done = ready?.status === 'True' || ready?.reason === 'MovesInProgress';
      setExit(opts.once && !done ? ExitCode.failure : ExitCode.ok);
    });
};
