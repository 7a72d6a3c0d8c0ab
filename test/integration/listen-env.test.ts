// Every serving subcommand listens on DEPCTL_LISTEN when --listen is not given (the container image sets
// 0.0.0.0:8080 there, and its HEALTHCHECK and published port use it): quickstart and sim as well as run.
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CliIo } from '../../controller/cli/io.js';
import { runCli } from '../../controller/cli/program.js';
import { runDepctl } from '../helpers/cli.js';

const COMPANY = fileURLToPath(new URL('../../examples/company', import.meta.url));

let cwd: string;
beforeEach(async () => {
  cwd = await mkdtemp(join(tmpdir(), 'depctl-listen-'));
});
afterEach(async () => {
  await rm(cwd, { recursive: true, force: true });
});

describe('DEPCTL_LISTEN', () => {
  it('is where quickstart serves when --listen is not given', async () => {
    await cp(COMPANY, join(cwd, 'cfg'), { recursive: true });
    const r = await runDepctl(['quickstart', 'cfg', '--once', '--devices', '0', '--log-format', 'json'], { cwd, env: { DEPCTL_LISTEN: '127.0.0.1:0' } });
    expect(r.code, r.stderr).toBe(0);
    // Port 0 from the environment: any free port, not the 8080 default.
    const port = /status page http:\/\/127\.0\.0\.1:(\d+)\//.exec(r.stdout)?.[1];
    expect(port, r.stdout).toBeDefined();
    expect(Number(port)).not.toBe(8080);
  }, 120_000);

  it('is where sim serves when --listen is not given, and --listen still wins', async () => {
    const serve = async (args: string[]): Promise<string> => {
      const abort = new AbortController();
      let stdout = '';
      const io: CliIo = {
        stdout: (s) => {
          stdout += s;
          if (s.includes('Stop with Ctrl-C')) abort.abort();
        },
        stderr: () => {},
        env: { DEPCTL_LISTEN: '127.0.0.1:0' },
        cwd,
        signal: abort.signal,
      };
      const code = await runCli(['sim', '--devices', '1', ...args], io);
      expect(code, stdout).toBe(0);
      return stdout;
    };
    const fromEnv = await serve([]);
    const port = /http:\/\/127\.0\.0\.1:(\d+)/.exec(fromEnv)?.[1];
    expect(port, fromEnv).toBeDefined();
    expect(Number(port)).not.toBe(8089);
    const fromFlag = await serve(['--listen', '127.0.0.2:0']);
    expect(fromFlag).toMatch(/http:\/\/127\.0\.0\.2:\d+/);
  }, 60_000);
});
