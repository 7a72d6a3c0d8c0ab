// Reads the Dockerfile and prints, as bash assignments, what .ci/image-check.sh needs to reproduce the image
// without Docker: the build stage's COPY sources, the runtime stage's COPY --from=build targets, its ENV,
// USER, WORKDIR, ENTRYPOINT, CMD and HEALTHCHECK command. Image paths (/app, /var/lib/depctl, /secrets,
// /tmp, /config) are mapped onto the temporary directories given in IMAGE_CHECK_MAP ("from=to;from=to").
// Usage: node .ci/dockerfile-plan.mjs Dockerfile
import { readFileSync } from 'node:fs';

const text = readFileSync(process.argv[2] ?? 'Dockerfile', 'utf8');
// Join continuation lines, drop comments and blank lines.
const lines = text
  .replace(/\\\r?\n/g, ' ')
  .split(/\r?\n/)
  .map((l) => l.trim())
  .filter((l) => l !== '' && !l.startsWith('#'));

const stages = [];
for (const line of lines) {
  const m = /^(\w+)\s+(.*)$/.exec(line);
  if (!m) continue;
  const [, instr, rest] = [m[0], m[1].toUpperCase(), m[2]];
  if (instr === 'FROM') {
    const as = /\s+AS\s+(\S+)\s*$/i.exec(rest);
    stages.push({ name: as ? as[1] : String(stages.length), instructions: [] });
  } else if (stages.length > 0) {
    stages.at(-1).instructions.push({ instr, rest });
  }
}
const build = stages.find((s) => s.name === 'build');
const runtime = stages.at(-1);
if (!build || !runtime || runtime === build) throw new Error('Dockerfile: expected a "build" stage and a final runtime stage');

const map = (process.env.IMAGE_CHECK_MAP ?? '')
  .split(';')
  .filter(Boolean)
  .map((pair) => pair.split('='));
const targets = new Map(map);
// One pass, so that a mapped path (say /tmp/x/app) is never mapped again by a shorter rule (/tmp).
const pathRe = map.length === 0 ? null : new RegExp(`(^|[:=])(${map.map(([from]) => from.replace(/[/.]/g, '\\$&')).join('|')})(?=/|$)`, 'g');
/** Maps an image path (alone, after `sqlite:`, or after `=`) onto its temporary directory. */
const mapPath = (s) => (pathRe ? s.replace(pathRe, (_m, pre, from) => `${pre}${targets.get(from)}`) : s);
const execForm = (rest, what) => {
  const json = rest.replace(/^(--\S+\s+)*/, '').replace(/^CMD\s+/i, '');
  const value = JSON.parse(json);
  if (!Array.isArray(value)) throw new Error(`Dockerfile: ${what} must use the exec (JSON array) form`);
  return value;
};
const q = (s) => `'${String(s).replaceAll("'", "'\\''")}'`;
const arr = (name, values) => `${name}=(${values.map(q).join(' ')})`;

const buildSources = build.instructions
  .filter((i) => i.instr === 'COPY' && !i.rest.includes('--from='))
  .flatMap((i) => i.rest.split(/\s+/).filter((w) => !w.startsWith('--')).slice(0, -1));
const runtimeFiles = runtime.instructions
  .filter((i) => i.instr === 'COPY' && i.rest.includes('--from=build'))
  .map((i) => i.rest.split(/\s+/).at(-1).replace(/^\.\//, ''));
const env = [];
for (const i of runtime.instructions.filter((x) => x.instr === 'ENV')) {
  for (const m of i.rest.matchAll(/(\w+)=("[^"]*"|\S*)/g)) env.push(`${m[1]}=${mapPath(m[2].replace(/^"|"$/g, ''))}`);
}
const last = (instr) => runtime.instructions.filter((i) => i.instr === instr).at(-1)?.rest;
const health = last('HEALTHCHECK');
if (!health) throw new Error('Dockerfile: the runtime stage has no HEALTHCHECK');

console.log(arr('df_build_sources', buildSources));
console.log(arr('df_runtime_files', runtimeFiles));
console.log(arr('df_env', env));
console.log(`df_user=${q(last('USER') ?? 'root')}`);
console.log(`df_workdir=${q(mapPath(last('WORKDIR') ?? '/'))}`);
console.log(arr('df_entrypoint', execForm(last('ENTRYPOINT') ?? '[]', 'ENTRYPOINT').map(mapPath)));
console.log(arr('df_cmd', execForm(last('CMD') ?? '[]', 'CMD').map(mapPath)));
console.log(arr('df_healthcheck', execForm(health, 'HEALTHCHECK').map(mapPath)));
