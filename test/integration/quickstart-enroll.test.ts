import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CliIo } from '../../controller/cli/io.js';
import { runCli } from '../../controller/cli/program.js';
import { runDepctl } from '../helpers/cli.js';

const COMPANY = fileURLToPath(new URL('../../examples/company', import.meta.url));

/** Resolves with the first match of `re` in the text `read` returns, checking each time `wake` is called. */
function whenPrinted(read: () => string, re: RegExp, subscribe: (wake: () => void) => void): Promise<RegExpExecArray> {
  return new Promise((resolve) => {
    const check = (): void => {
      const m = re.exec(read());
      if (m) resolve(m);
    };
    subscribe(check);
    check();
  });
}

describe('depctl quickstart with the company example: a simulated device enrolls', () => {
  let cwd: string;
  beforeEach(async () => {
    cwd = await mkdtemp(join(tmpdir(), 'depctl-qs-enroll-'));
    await cp(COMPANY, join(cwd, 'cfg'), { recursive: true });
  });
  afterEach(async () => {
    await rm(cwd, { recursive: true, force: true });
  });

  it('trusts its own test CA and prints depctl sim enroll commands that enroll, or ask for an OS update', async () => {
    let stdout = '';
    let stderr = '';
    const listeners: Array<() => void> = [];
    const stop = new AbortController();
    const io: CliIo = {
      stdout: (s) => {
        stdout += s;
        listeners.forEach((l) => l());
      },
      stderr: (s) => {
        stderr += s;
        listeners.forEach((l) => l());
      },
      env: {},
      cwd,
      signal: stop.signal,
    };
    const running = runCli(['quickstart', 'cfg', '--listen', '127.0.0.1:0', '--devices', '0', '--log-format', 'json'], io);
    try {
      const printed = await Promise.race([
        whenPrinted(() => stdout, /status page (http:\/\/127\.0\.0\.1:\d+)\/[\s\S]*Try a device[^:]*: depctl (sim enroll [^\n]+)\n[\s\S]*can update: depctl (sim enroll [^\n]+)\n/, (l) => listeners.push(l)),
        running.then((code) => {
          throw new Error(`quickstart ended (${code}) before printing the commands:\n${stdout}\n${stderr}`);
        }),
      ]);
      const [, url, enrollLine, oldLine] = printed as unknown as [string, string, string, string];
      expect(stdout).toContain('Enrollment: the controller trusts the test device CA in .depctl/quickstart/enroll-ca (created;');
      expect(enrollLine).toBe(`sim enroll --url ${url}/enroll/kiosk-ipads --serial DMQWT7KLP2A1 --ca .depctl/quickstart/enroll-ca`);
      expect(oldLine).toBe(`${enrollLine} --os 16.7 --build 20H19 --can-update`);

      // The endpoint serves once the first pass has loaded the config: wait for the profile in /api/status.
      // Woken by the controller's log lines (each pass logs); subscribed before each look so none is missed.
      for (;;) {
        const output = new Promise<void>((resolve) => listeners.push(resolve));
        const res = await request(`${url}/api/status`);
        const status = (await res.body.json()) as { enrollment?: Array<{ profile: string }> };
        if (status.enrollment?.some((e) => e.profile === 'kiosk-ipads')) break;
        await output;
      }

      const enrolled = await runDepctl(enrollLine.split(' '), { cwd });
      expect(enrolled.code, enrolled.stdout + enrolled.stderr).toBe(0);
      expect(enrolled.stdout).toContain('HTTP 200 application/x-apple-aspen-config: enrolled');
      expect(enrolled.stdout).toContain('ServerURL: https://mdm.northwind.example/mdm');
      expect(enrolled.stdout).toContain('URL: https://mdm.northwind.example/scep');

      const held = await runDepctl(oldLine.split(' '), { cwd });
      expect(held.code, held.stdout + held.stderr).toBe(4);
      expect(held.stdout).toContain('required OS version 17.4');
    } finally {
      stop.abort();
      await running;
    }
  }, 180_000);
});
