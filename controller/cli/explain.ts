import { Option, type Command } from 'commander';
import type { Register } from './program.js';
import { ExitCode, UsageError, type CliIo } from './io.js';
import { connectServers, loadValidConfig, openState, runtimeSettings, type RuntimeSettings } from './runtime.js';
import { normaliseSerial, serialProblem } from '../config/serials.js';
import type { DepConfig } from '../config/types.js';
import type { Store } from '../store/index.js';
import { explainSerials, type LiveAnswer } from '../reconcile/explain.js';
import { renderExplainText } from './views/explain-text.js';
import { renderExplainJson } from './views/explain-json.js';
import { STATUS_FORMATS, type StatusFormat } from './views/status-common.js';
import { examples } from './help.js';

/** Options of `depctl explain`. */
interface ExplainOptions {
  config: string;
  server?: string;
  format: StatusFormat;
  live: boolean;
}

/**
 * Registers `depctl explain SERIAL…`: which profile each device should have and why, what Apple has (the
 * store, or Apple itself with --live), retries, arrival and the audit history. Never writes to Apple.
 * Exit 0 when every serial was found on a server, 1 otherwise.
 */
export const registerExplain: Register = (program, io, setExit) => {
  program
    .command('explain')
    .description('why a device has (or should have) its profile: config rule, Apple\'s record, retries and audit history')
    .argument('<serials...>', 'serial numbers (case and surrounding spaces do not matter)')
    .option('--config <dir>', 'config directory', '.')
    .option('--server <name>', 'ask only this MdmServer')
    .addOption(new Option('--format <format>', 'output format').choices(STATUS_FORMATS).default('text'))
    .option('--live', "also ask Apple now (POST /devices, read-only) instead of only the store's last observation", false)
    .addHelpText('after', examples([
      ['depctl explain C02XK1ABJGH5 --config config/', 'which profile this device should have and why, what Apple has, its history'],
      ['depctl explain C02XK1ABJGH5 DMPQ2LL0GXQ7 --server paris --live', "ask Apple now (POST /devices) as well as the store, on one server"],
      ['depctl explain C02XK1ABJGH5 --format json | jq \'.serials[0].servers[0].desired\'', 'the decision as JSON'],
    ]))
    .action(async (serials: string[], opts: ExplainOptions, cmd: Command) => {
      const settings = runtimeSettings(cmd, io);
      const config = await loadValidConfig(opts.config, io);
      if (opts.server !== undefined && !config.servers.some((s) => s.name === opts.server)) {
        throw new UsageError(`--server ${opts.server}: no MdmServer of that name in the config (servers: ${config.servers.map((s) => s.name).join(', ')})`);
      }
      const asked = opts.server !== undefined ? [opts.server] : config.servers.map((s) => s.name);
      const now = (io.now ?? (() => new Date()))();
      const store = await openState(settings, io);
      try {
        const live = opts.live ? await askApple(config, asked, serials, settings, io, store) : undefined;
        const report = await explainSerials({
          config,
          store,
          serials,
          servers: asked,
          now,
          ...(live ? { live } : {}),
          normalise: (raw) => {
            const serial = normaliseSerial(raw);
            return serial !== undefined ? { serial } : { problem: serialProblem(raw) };
          },
        });
        const prefix = opts.config === '.' ? '' : `${opts.config.replace(/\/+$/, '')}/`;
        io.stdout(opts.format === 'json' ? renderExplainJson(report) : renderExplainText(report, { pathPrefix: prefix, now }));
        setExit(report.serials.every((s) => s.found) ? ExitCode.ok : ExitCode.failure);
      } finally {
        await store.close();
      }
    });
};

/** Apple's `POST /devices` answer per server for the valid serials, or why a server could not be asked. */
async function askApple(config: DepConfig, asked: readonly string[], raw: readonly string[], settings: RuntimeSettings, io: CliIo, store: Store): Promise<Map<string, LiveAnswer>> {
  const serials = [...new Set(raw.map((s) => normaliseSerial(s)).filter((s): s is string => s !== undefined))];
  const answers = new Map<string, LiveAnswer>();
  const subset: DepConfig = { ...config, servers: config.servers.filter((s) => asked.includes(s.name)) };
  const connections = await connectServers(subset, settings, io, store, { now: io.now ?? (() => new Date()) });
  try {
    for (const h of connections.handles) {
      if (h.client === null) {
        answers.set(h.name, { error: h.problem?.message ?? 'no DEP client' });
        continue;
      }
      if (serials.length === 0) {
        answers.set(h.name, { devices: {} });
        continue;
      }
      try {
        const res = await connections.clients.get(h.name)?.deviceDetails(serials, io.signal ? { signal: io.signal } : {});
        answers.set(h.name, { devices: res?.devices ?? {} });
      } catch (err) {
        // DEP errors are bounded and redacted at construction (dep/errors.ts); never a token here.
        answers.set(h.name, { error: err instanceof Error ? err.message : String(err) });
      }
    }
  } finally {
    await connections.close();
  }
  return answers;
}
