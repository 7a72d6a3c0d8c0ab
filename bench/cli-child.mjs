// @ts-check
/**
 * One measured depctl run, in a process of its own started by bench/children.ts `runCliChild`: plain
 * JavaScript on the build in dist/ with no loader hooks (as `bin/depctl.js` runs), so what is timed is what an
 * operator's `depctl` does: from after the CLI module loaded, the command with every module it imports on
 * its way. Under BENCH_SOURCE=1 the orchestrator starts it with tsx and it runs the TypeScript sources.
 * Reads the arguments from argv, the CLI environment from BENCH_DEPCTL_ENV and the working directory from
 * BENCH_CWD; sends one `done` message (CliChildDone in children.ts) and exits.
 */
const module = process.env['BENCH_DIST']
  ? new URL(`file://${process.env['BENCH_DIST'].replace(/\/?$/, '/')}cli/program.js`)
  : process.env['BENCH_SOURCE'] === '1'
    ? new URL('../controller/cli/program.js', import.meta.url)
    : new URL('../dist/cli/program.js', import.meta.url);
const { runCli } = await import(module.href);
const env = JSON.parse(process.env['BENCH_DEPCTL_ENV'] ?? '{}');
let stdout = '';
let stderr = '';
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const cpuMs = () => {
  const c = process.cpuUsage(cpu0);
  return (c.user + c.system) / 1000;
};
let planWallMs = -1;
let planCpuMs = -1;
const code = await runCli(process.argv.slice(2), {
  /** @param {string} s */
  stdout: (s) => {
    // The first output is the plan (observe + diff + rendering); anything after it is apply.
    if (planWallMs < 0) [planWallMs, planCpuMs] = [performance.now() - t0, cpuMs()];
    stdout = (stdout + s).slice(-4000);
  },
  /** @param {string} s */
  stderr: (s) => {
    stderr = (stderr + s).slice(-4000);
  },
  env,
  cwd: process.env['BENCH_CWD'] ?? process.cwd(),
});
const wallMs = performance.now() - t0;
const done = { type: 'done', code, wallMs, cpuMs: cpuMs(), planWallMs, planCpuMs, maxRssMiB: process.resourceUsage().maxRSS / 1024, stdoutTail: stdout, stderr };
process.send?.(done, () => process.disconnect());
