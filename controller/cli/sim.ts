/**
 * `depctl sim`: runs the built-in DEP simulator (controller/sim) until SIGTERM/SIGINT. With `--out
 * DIR` it also writes `key.pem` (0600) and `token.p7m`, a real S/MIME server token for the
 * simulator's credentials, so depctl or NanoDEP/MicroMDM can be configured exactly as against Apple.
 * The portal and faults are driven over HTTP under `/_sim/` (see controller/sim/admin.ts). With
 * `--servers a,b` or `--config DIR` one process serves several MDM servers (sim-group.ts), and with `--abm`
 * also the Apple Business API of their organisation (sim-abm.ts).
 */
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { startSimulator } from '../sim/index.js';
import type { RunningSimulator } from '../sim/api.js';
import { encryptServerToken, generateKeyPair } from '../tokens/index.js';
import { type CliIo, ExitCode, UsageError } from './io.js';
import { renderText } from './views/problems.js';
import { describeGroup, parseServerNames, SimConfigError, startSimGroupCommand, type StartedSimGroup } from './sim-group.js';
import { examples } from './help.js';
import type { Register } from './program.js';
import { registerSimDevice } from './sim-enroll.js';
import { DEFAULT_ABM_LISTEN } from './sim-abm.js';

/** Options of the `sim` command, already parsed. */
export interface SimCommandOptions {
  /** `HOST:PORT` (default 127.0.0.1:8089; port 0 picks a free one). */
  listen?: string;
  /** Seeded devices (default 100). */
  devices?: number;
  /** Fleet and credential seed (default 1). */
  seed?: number;
  /** Directory for `key.pem` and `token.p7m`, relative to `cwd`. */
  out?: string;
  /**
   * A PEM certificate (relative to `cwd`) to encrypt `token.p7m` to instead of a generated key pair:
   * the public key another tool (NanoDEP, MicroMDM) exports for the portal. No key.pem is written.
   */
  certificate?: string;
  /** Working directory against which `out` resolves. */
  cwd: string;
  /** Clock for the simulator (tests). */
  now?: () => number;
}

/** A simulator started by the command, with the files it wrote. */
export interface StartedSim {
  sim: RunningSimulator;
  /** Absolute paths of the written token and key (no key with `certificate`), when `out` was given. */
  files?: { key?: string; token: string };
  stop(): Promise<void>;
}

/** Default address of `depctl sim` (DESIGN.md). */
export const DEFAULT_SIM_LISTEN = '127.0.0.1:8089';

/** Default fleet size of `depctl sim`: enough to see paging in a demo. */
export const DEFAULT_SIM_DEVICES = 100;

/** Parses `HOST:PORT` (IPv6 as `[::1]:8089`). */
export function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new UsageError(`--listen must be HOST:PORT, got "${text}"`);
  return { host: (m[1] ?? m[2]) as string, port };
}

function wholeNumber(flag: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text.trim())) throw new UsageError(`${flag} must be a whole number, got "${text}"`);
  return Number(text);
}

/**
 * Starts the simulator and writes the token files: the command's core, also used by tests to start
 * it deterministically. The key and token are written before the function resolves.
 */
export async function startSimCommand(opts: SimCommandOptions): Promise<StartedSim> {
  const { host, port } = parseListen(opts.listen ?? DEFAULT_SIM_LISTEN);
  const sim = await startSimulator({ host, port, devices: opts.devices ?? DEFAULT_SIM_DEVICES, seed: opts.seed ?? 1, ...(opts.now ? { now: opts.now } : {}) });
  const started: StartedSim = { sim, stop: () => sim.close() };
  if (opts.out === undefined) return started;
  try {
    const dir = path.resolve(opts.cwd, opts.out);
    await mkdir(dir, { recursive: true });
    const token = path.join(dir, 'token.p7m');
    if (opts.certificate !== undefined) {
      // The portal flow for another tool: it keeps its key, we only encrypt to its certificate.
      const certificatePem = await readFile(path.resolve(opts.cwd, opts.certificate), 'utf8');
      await writeFile(token, encryptServerToken(sim.token, certificatePem));
      started.files = { token };
      return started;
    }
    const pair = generateKeyPair({ commonName: 'depctl-sim' });
    const key = path.join(dir, 'key.pem');
    await writeFile(key, pair.privateKeyPem, { mode: 0o600 });
    // writeFile's mode applies only when it creates the file; an existing key.pem is tightened too.
    await chmod(key, 0o600);
    await writeFile(token, encryptServerToken(sim.token, pair.certificatePem));
    started.files = { key, token };
    return started;
  } catch (err) {
    await sim.close();
    throw err;
  }
}

/** Resolves when `signal` aborts, or on SIGINT/SIGTERM when no signal is given. */
function untilStopped(signal: AbortSignal | undefined): Promise<void> {
  if (signal) {
    return new Promise((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
  }
  return new Promise((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

function describe(io: CliIo, started: StartedSim): void {
  const { sim, files } = started;
  io.stdout(`DEP simulator listening on ${sim.url}\n`);
  io.stdout(`  ${sim.inspect.deviceCount()} devices; Apple's paths at /, admin endpoints at ${sim.url}/_sim/state\n`);
  if (files?.key !== undefined) {
    io.stdout(`  wrote ${files.token} (server token) and ${files.key} (its private key)\n`);
    io.stdout(`  MdmServer spec: depUrl: ${sim.url}, token: { file: ${files.token} }, privateKey: { file: ${files.key} }\n`);
  } else if (files) {
    io.stdout(`  wrote ${files.token} (server token encrypted to the given certificate)\n`);
  }
  io.stdout('Stop with Ctrl-C (SIGINT) or SIGTERM.\n');
}

/** Registers `depctl sim`. */
export const registerSim: Register = (program, io, setExit) => {
  const sim = (program.command('sim') as Command)
    .description('run the built-in DEP simulator (Apple\'s paths at /, admin endpoints under /_sim/); sim enroll acts as a device')
    .option('--listen <host:port>', `address to listen on (port 0: any free port; env DEPCTL_LISTEN; default ${DEFAULT_SIM_LISTEN})`)
    .option('--devices <n>', 'number of seeded devices', String(DEFAULT_SIM_DEVICES))
    .option('--seed <s>', 'seed of the fleet and credentials (same seed, same fleet)', '1')
    .option('--out <dir>', 'write key.pem and token.p7m (an encrypted server token for the simulator) here')
    .option('--cert <file>', 'with --out: encrypt token.p7m to this PEM certificate (e.g. exported by NanoDEP or MicroMDM) instead of writing key.pem')
    .option('--servers <names>', 'serve several MDM servers (comma-separated), each with its own token: --out writes DIR/NAME/token.p7m and DIR/NAME/key.pem')
    .option('--config <dir>', 'serve the MdmServers of this depctl config, seeded with the serials its assignments list (plus --devices random ones each)')
    .option('--abm', 'with --servers or --config: also serve the Apple Business API of their organisation (devices = the DEP fleet; assignments reach the DEP servers\' sync); --out writes its API account')
    .option('--abm-listen <host:port>', `address of the Business API simulator (port 0: any free port; default ${DEFAULT_ABM_LISTEN})`)
    .option('--abm-scope <scope>', "business (Apple Business Manager) or school (Apple School Manager); default the config's Organization's scope, else business")
    .addHelpText('after', examples([
      ['depctl sim --listen 127.0.0.1:8081 --devices 1000 --out sim/', 'one server with 1,000 devices; token and key in sim/'],
      ['depctl sim --config examples --out secrets/ --abm', "the servers of a config, seeded with its serials, and the Business API of their organisation"],
      ['DEPCTL_DEP_URL=http://127.0.0.1:8081 depctl plan examples', 'then plan against it'],
    ]))
    .action(async (o: { listen?: string; devices: string; seed: string; out?: string; cert?: string; servers?: string; config?: string; abm?: boolean; abmListen?: string; abmScope?: string }) => {
      if (o.cert !== undefined && o.out === undefined) throw new UsageError('--cert needs --out');
      const abmWanted = o.abm === true || o.abmListen !== undefined;
      if (abmWanted && o.servers === undefined && o.config === undefined) throw new UsageError('--abm needs --servers or --config: the Business API moves devices between those MDM servers');
      const abmScope = o.abmScope;
      if (abmScope !== undefined && abmScope !== 'business' && abmScope !== 'school') throw new UsageError(`--abm-scope must be business or school, got "${abmScope}"`);
      if (o.abmListen !== undefined) parseListen(o.abmListen);
      // DEPCTL_LISTEN as for `run`: in the container image it is the one address the port and HEALTHCHECK use.
      const listen = o.listen ?? io.env['DEPCTL_LISTEN'] ?? DEFAULT_SIM_LISTEN;
      if (o.servers !== undefined || o.config !== undefined) {
        let group: StartedSimGroup;
        try {
          group = await startSimGroupCommand({
            listen,
            devices: wholeNumber('--devices', o.devices, DEFAULT_SIM_DEVICES),
            seed: wholeNumber('--seed', o.seed, 1),
            ...(o.servers !== undefined ? { servers: parseServerNames(o.servers) } : {}),
            ...(o.config !== undefined ? { config: o.config } : {}),
            ...(o.out !== undefined ? { out: o.out } : {}),
            ...(o.cert !== undefined ? { certificate: o.cert } : {}),
            ...(abmWanted ? { abm: { listen: o.abmListen ?? DEFAULT_ABM_LISTEN, ...(abmScope !== undefined ? { scope: abmScope } : {}) } } : {}),
            cwd: io.cwd,
          });
        } catch (err) {
          if (!(err instanceof SimConfigError)) throw err;
          io.stderr(renderText(o.config ?? '.', err.result, false));
          io.stderr(`depctl: ${err.message}\n`);
          setExit(ExitCode.failure);
          return;
        }
        describeGroup(io, group);
        await untilStopped(io.signal);
        await group.stop();
        io.stdout(group.abm ? 'DEP and Business API simulators stopped.\n' : 'DEP simulator stopped.\n');
        setExit(ExitCode.ok);
        return;
      }
      const started = await startSimCommand({
        listen,
        devices: wholeNumber('--devices', o.devices, DEFAULT_SIM_DEVICES),
        seed: wholeNumber('--seed', o.seed, 1),
        ...(o.out !== undefined ? { out: o.out } : {}),
        ...(o.cert !== undefined ? { certificate: o.cert } : {}),
        cwd: io.cwd,
      });
      describe(io, started);
      await untilStopped(io.signal);
      await started.stop();
      io.stdout('DEP simulator stopped.\n');
      setExit(ExitCode.ok);
    });
  // The device role: `depctl sim enroll` and `depctl sim ca create` (sim-enroll.ts).
  registerSimDevice(sim, io, setExit);
};
