import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { createMetrics } from '../../controller/server/metrics.js';
import { imageNodeFlags } from '../../bench/children.js';
import { sampleStatus } from '../unit/server/sample-status.js';
import { parseObjects, validateObjects, type KubeObject } from '../helpers/k8s-schemas.js';

// The deployment files (deploy/kubernetes, deploy/github, deploy/grafana) and the Dockerfile are not run
// against a cluster or a Docker engine here: these checks hold them to what deploy/README.md promises.
// The kustomizations are rendered with the real `kubectl kustomize` (.ci/kustomize-check.sh installs
// Debian's kubectl in CI) and every object is validated against the Kubernetes schemas.

const root = join(import.meta.dirname, '..', '..');
const k8sDir = join(root, 'deploy', 'kubernetes');

type Manifest = KubeObject & { file: string };
interface Probe { httpGet?: { path?: string; port?: string | number } }
interface EnvVar { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string }; configMapKeyRef?: { name: string; key: string } } }
interface Container {
  name: string;
  args?: string[];
  env?: EnvVar[];
  ports?: { name?: string; containerPort: number }[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: { runAsNonRoot?: boolean; allowPrivilegeEscalation?: boolean; readOnlyRootFilesystem?: boolean; capabilities?: { drop?: string[] } };
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
}
interface Volume { name: string; secret?: { secretName: string; items?: { key: string; path: string }[] }; persistentVolumeClaim?: { claimName: string }; emptyDir?: object }
interface PodSpec {
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number; runAsGroup?: number; fsGroup?: number; seccompProfile?: { type?: string } };
  automountServiceAccountToken?: boolean;
  containers: Container[];
  volumes?: Volume[];
}
interface Deployment extends Manifest { spec: { replicas: number; strategy?: { type?: string }; template: { spec: PodSpec } } }
interface PortRule { port: number | string; protocol: string }
interface NetworkPolicy extends Manifest { spec: { policyTypes: string[]; ingress?: { from?: unknown[]; ports: PortRule[] }[]; egress?: { to?: unknown[]; ports: PortRule[] }[] } }

/** Renders a kustomization with the real kubectl; the deprecation warnings of kustomize v5 go to stderr. */
function kustomize(dir: string, label: string): Manifest[] {
  const out = execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return parseObjects(out).map((o) => ({ ...o, file: `${label}: ${o.kind}/${o.metadata.name}` }));
}

const overlays = { sqlite: kustomize(join(k8sDir, 'overlays', 'sqlite'), 'sqlite'), 'postgres-ha': kustomize(join(k8sDir, 'overlays', 'postgres-ha'), 'postgres-ha') };
const monitoring = kustomize(join(k8sDir, 'monitoring'), 'monitoring');
const existing = kustomize(join(k8sDir, 'with-existing-secrets'), 'with-existing-secrets');
const of = (list: Manifest[], kind: string): Manifest[] => list.filter((m) => m.kind === kind);
const deploymentOf = (list: Manifest[]): Deployment => of(list, 'Deployment')[0] as Deployment;

// The secretGenerator example reads files that are never in git: render a copy with stand-in files.
const genRoot = mkdtempSync(join(tmpdir(), 'depctl-kustomize-'));
cpSync(k8sDir, join(genRoot, 'kubernetes'), { recursive: true });
const genDir = join(genRoot, 'kubernetes', 'with-generated-secrets');
mkdirSync(join(genDir, 'secrets', 'paris'), { recursive: true });
writeFileSync(join(genDir, 'secrets', 'paris', 'token.p7m'), 'stand-in token');
writeFileSync(join(genDir, 'secrets', 'paris', 'key.pem'), 'stand-in key');
writeFileSync(join(genDir, 'secrets', 'api.env'), 'webhook-secret=w\napi-token=a\n');
writeFileSync(join(genDir, 'secrets', 'postgres.env'), 'url=postgres://depctl:pw@db.example.internal:5432/depctl\n');
const generated = kustomize(genDir, 'with-generated-secrets');
afterAll(() => rmSync(genRoot, { recursive: true, force: true }));

describe('Kubernetes kustomizations', () => {
  it('render objects that are valid against the Kubernetes schemas (ServiceMonitor and PrometheusRule against the operator CRDs)', async () => {
    for (const list of [...Object.values(overlays), monitoring, existing, generated]) {
      const results = await validateObjects(list);
      expect(results.filter((r) => r.error !== undefined)).toEqual([]);
      expect(results.length).toBe(list.length);
    }
    expect(monitoring.map((m) => m.kind).sort()).toEqual(['PrometheusRule', 'ServiceMonitor']);
  });

  it('catch an invalid object (the schema check is not a no-op)', async () => {
    const d = structuredClone(deploymentOf(overlays.sqlite));
    const [result] = await validateObjects([{ ...d, spec: { ...d.spec, replicas: 'one' } }]);
    expect(result?.error).toMatch(/replicas must be integer/);
  });

  for (const [name, list] of Object.entries(overlays)) {
    it(`${name}: every object lives in the depctl namespace, and no Secret is ever part of the overlay`, () => {
      expect(of(list, 'Namespace').map((m) => m.metadata.name)).toEqual(['depctl']);
      for (const m of list) if (m.kind !== 'Namespace') expect(m.metadata.namespace, m.file).toBe('depctl');
      for (const kind of ['ServiceAccount', 'ConfigMap', 'Service', 'Deployment', 'NetworkPolicy']) expect(of(list, kind).length, kind).toBeGreaterThan(0);
      // A re-apply or an Argo CD sync must never overwrite the Secrets the user created.
      expect(of(list, 'Secret')).toEqual([]);
    });
  }

  it('have an SQLite overlay with one replica on a PVC and a Postgres overlay with two and a PDB', () => {
    const sqlite = deploymentOf(overlays.sqlite);
    const postgres = deploymentOf(overlays['postgres-ha']);
    expect(sqlite.spec.replicas).toBe(1);
    // Recreate: the old pod lets go of the SQLite volume before the new one opens it.
    expect(sqlite.spec.strategy?.type).toBe('Recreate');
    const claim = sqlite.spec.template.spec.volumes?.find((v) => v.persistentVolumeClaim)?.persistentVolumeClaim?.claimName;
    expect(of(overlays.sqlite, 'PersistentVolumeClaim').map((p) => p.metadata.name)).toEqual([claim]);
    expect(env(sqlite, 'DEPCTL_STATE')?.value).toMatch(/^sqlite:\/var\/lib\/depctl\//);
    expect(postgres.spec.replicas).toBe(2);
    expect(postgres.spec.template.spec.volumes?.some((v) => v.persistentVolumeClaim)).toBe(false);
    expect(of(overlays['postgres-ha'], 'PersistentVolumeClaim')).toEqual([]);
    expect(env(postgres, 'DEPCTL_STATE')?.valueFrom?.secretKeyRef).toEqual({ name: 'depctl-postgres', key: 'url' });
    expect(of(overlays['postgres-ha'], 'PodDisruptionBudget')).toHaveLength(1);
  });

  it('allow ingress only to the HTTP port, and egress to DNS, 443, ssh and (postgres-ha only) 5432', () => {
    const egressPorts = (list: Manifest[]): string[] => (of(list, 'NetworkPolicy') as NetworkPolicy[]).flatMap((p) => (p.spec.egress ?? []).flatMap((r) => r.ports.map((x) => `${x.port}/${x.protocol}`))).sort();
    for (const list of Object.values(overlays)) {
      const policies = of(list, 'NetworkPolicy') as NetworkPolicy[];
      const ingress = policies.flatMap((p) => p.spec.ingress ?? []);
      expect(ingress.flatMap((r) => r.ports)).toEqual([{ port: 'http', protocol: 'TCP' }]);
      const base = policies.find((p) => p.metadata.name === 'depctl');
      expect(base?.spec.policyTypes.sort()).toEqual(['Egress', 'Ingress']);
    }
    expect(egressPorts(overlays.sqlite)).toEqual(['22/TCP', '443/TCP', '53/TCP', '53/UDP']);
    expect(egressPorts(overlays['postgres-ha'])).toEqual(['22/TCP', '443/TCP', '53/TCP', '53/UDP', '5432/TCP']);
  });

  it('generate Secrets from local files only in the with-generated-secrets example, and point the Deployment at them', () => {
    const secrets = of(generated, 'Secret');
    expect(secrets.map((s) => s.metadata.name.replace(/-[a-z0-9]{10}$/, '')).sort()).toEqual(['depctl-api', 'depctl-dep', 'depctl-postgres']);
    for (const s of secrets) expect(s['stringData'], s.file).toBeUndefined();
    const dep = secrets.find((s) => s.metadata.name.startsWith('depctl-dep-'));
    expect(Buffer.from(String((dep?.['data'] as Record<string, string>)['paris-token.p7m']).replace(/\n/g, ''), 'base64').toString()).toBe('stand-in token');
    const d = deploymentOf(generated);
    const names = new Set(secrets.map((s) => s.metadata.name));
    const refs = [...(d.spec.template.spec.containers[0]?.env ?? []).flatMap((e) => e.valueFrom?.secretKeyRef?.name ?? []), ...(d.spec.template.spec.volumes ?? []).flatMap((v) => v.secret?.secretName ?? [])];
    expect(refs.length).toBeGreaterThanOrEqual(5);
    for (const ref of refs) expect(names, ref).toContain(ref);
    // The files the generator reads are ignored by git.
    expect(readFileSync(join(k8sDir, 'with-generated-secrets', '.gitignore'), 'utf8')).toMatch(/^secrets\/$/m);
    const tracked = execFileSync('git', ['ls-files', 'deploy'], { cwd: root, encoding: 'utf8' });
    expect(tracked).not.toMatch(/\.(p7m|pem|env)$/m);
  });

  it('take Secrets of names the user chooses, and the image and MDM servers, from an overlay of their own', () => {
    expect(of(existing, 'Secret')).toEqual([]);
    const d = deploymentOf(existing);
    expect(env(d, 'DEPCTL_STATE')?.valueFrom?.secretKeyRef).toEqual({ name: 'cnpg-depctl-app', key: 'uri' });
    expect(d.spec.template.spec.containers[0]).toMatchObject({ image: 'registry.example.com/depctl:0.1.0' });
    const items = d.spec.template.spec.volumes?.find((v) => v.secret)?.secret?.items ?? [];
    expect(items.map((i) => i.path)).toEqual(['paris/token.p7m', 'paris/key.pem', 'lyon/token.p7m', 'lyon/key.pem']);
    // Everything else is the postgres-ha overlay's.
    expect(d.spec.replicas).toBe(2);
    expect(d.spec.template.spec.securityContext).toEqual(deploymentOf(overlays['postgres-ha']).spec.template.spec.securityContext);
  });

  for (const [name, list] of Object.entries(overlays)) {
    describe(`${name} Deployment`, () => {
      const d = deploymentOf(list);
      const pod = d.spec.template.spec;
      const c = pod.containers[0] as Container;

      it('runs as uid 1000, non-root, with a read-only root file system, no capabilities and RuntimeDefault seccomp', () => {
        expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000 });
        expect(pod.securityContext?.seccompProfile?.type).toBe('RuntimeDefault');
        expect(pod.automountServiceAccountToken).toBe(false);
        expect(c.securityContext).toMatchObject({ runAsNonRoot: true, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true });
        expect(c.securityContext?.capabilities?.drop).toEqual(['ALL']);
      });

      it('probes /healthz for liveness and /readyz for readiness on the container port behind the Service', () => {
        expect(c.livenessProbe?.httpGet?.path).toBe('/healthz');
        expect(c.readinessProbe?.httpGet?.path).toBe('/readyz');
        const port = c.ports?.find((p) => p.name === c.readinessProbe?.httpGet?.port);
        expect(port?.containerPort).toBe(8080);
        expect(env(d, 'DEPCTL_LISTEN')?.value).toBe('0.0.0.0:8080');
        const svc = of(list, 'Service')[0] as Manifest & { spec: { ports: { targetPort: string }[] } };
        expect(svc.spec.ports.map((p) => p.targetPort)).toContain(port?.name);
      });

      it('sets resource requests and limits', () => {
        expect(Object.keys(c.resources?.requests ?? {}).sort()).toEqual(['cpu', 'memory']);
        expect(c.resources?.limits?.['memory']).toBeDefined();
      });

      it('mounts secrets read-only from Secrets and takes secret env only from secretKeyRef', () => {
        const secretVolume = pod.volumes?.find((v) => v.secret);
        expect(c.volumeMounts?.find((m) => m.name === secretVolume?.name)).toMatchObject({ mountPath: '/secrets', readOnly: true });
        for (const e of c.env ?? []) {
          if (/SECRET$|TOKEN|PASSWORD|_KEY$/.test(e.name)) expect(e.valueFrom?.secretKeyRef, e.name).toBeDefined();
          // A literal store URL may only be a file path: a postgres:// URL carries a password.
          if (e.name === 'DEPCTL_STATE' && e.value !== undefined) expect(e.value).toMatch(/^sqlite:/);
        }
        expect(env(d, 'DEPCTL_WEBHOOK_SECRET')?.valueFrom?.secretKeyRef?.name).toBe('depctl-api');
        expect(secretVolume?.secret?.secretName).toBe('depctl-dep');
        // Every file the example config names is mounted from the Secret, at the path the config names.
        const examples = readFileSync(join(root, 'examples', 'school', 'servers.yaml'), 'utf8');
        const files = [...examples.matchAll(/\{ file: ([^ }]+) \}/g)].map((m) => m[1]);
        expect(files.length).toBeGreaterThan(0);
        expect((secretVolume?.secret?.items ?? []).map((i) => i.path).sort()).toEqual(files.sort());
      });

      it('writes only to the state volume and an emptyDir /tmp, and checks the repository out there', () => {
        const writable = (c.volumeMounts ?? []).filter((m) => !m.readOnly).map((m) => m.mountPath).sort();
        expect(writable).toEqual(['/tmp', '/var/lib/depctl']);
        const tmp = c.volumeMounts?.find((m) => m.mountPath === '/tmp');
        expect(pod.volumes?.find((v) => v.name === tmp?.name)?.emptyDir).toBeDefined();
        const state = c.volumeMounts?.find((m) => m.mountPath === '/var/lib/depctl');
        expect(pod.volumes?.find((v) => v.name === state?.name)).toBeDefined();
        expect(c.args?.[0]).toBe('run');
        expect(c.args).toContain('--work-dir=/var/lib/depctl/checkout');
      });
    });
  }
});

/** Metric names and label sets the controller really exports, read from its /metrics exposition. */
async function exposition(): Promise<Map<string, Set<string>>> {
  const m = createMetrics();
  const status = sampleStatus(new Date());
  const [paris, lyon] = status.servers;
  // Every result, problem kind and condition value an alert may name, so their label values show up.
  const stopped = { ...lyon!, name: 'nice', problem: { ...lyon!.problem!, kind: 'guardrail' as const, reason: 'max-changes' as const } };
  m.updateFromStatus({ ...status, servers: [{ ...paris!, devicesByResult: { success: 1, failed: 1, 'not-accessible': 1, throttled: 1, error: 1 } }, lyon!, stopped] });
  for (const outcome of ['success', 'partial', 'failed', 'noop', 'error'] as const) m.recordRun(outcome, 1);
  m.recordDepRequest({ server: 'paris', method: 'GET', endpoint: '/account', status: 200, durationMs: 10 });
  const series = new Map<string, Set<string>>();
  for (const line of (await m.registry.metrics()).split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? /.exec(line);
    if (!match) continue;
    const labels = series.get(match[1] as string) ?? new Set<string>();
    for (const pair of (match[3] ?? '').matchAll(/([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g)) labels.add(`${pair[1]}=${pair[2]}`);
    series.set(match[1] as string, labels);
  }
  return series;
}

/** Checks every selector `name{label="v"|label=~"a|b"}` of a PromQL expression against the exposition. */
function checkExpr(expr: string, series: Map<string, Set<string>>, where: string): string[] {
  const used: string[] = [];
  for (const sel of expr.matchAll(/\b((?:depctl|process|nodejs)_[a-z0-9_]+)(\{([^}]*)\})?/g)) {
    const name = sel[1] as string;
    used.push(name);
    expect(series.has(name), `${where}: ${name} is not exported`).toBe(true);
    const have = [...(series.get(name) ?? [])];
    for (const m of (sel[3] ?? '').matchAll(/([a-z_]+)\s*(=~|=|!=)\s*"([^"]*)"/g)) {
      const [, label, op, value] = m as unknown as [string, string, string, string];
      if (label === 'job' || label === 'namespace' || label === 'pod') continue; // added by Prometheus at scrape time
      expect(have.some((l) => l.startsWith(`${label}=`)), `${where}: ${name} has no label ${label}`).toBe(true);
      if (op === '!=') continue;
      for (const v of op === '=~' ? value.split('|') : [value]) expect(have, `${where}: ${name}{${label}="${v}"}`).toContain(`${label}=${v}`);
    }
  }
  return used;
}

describe('monitoring: PrometheusRule and Grafana dashboard', () => {
  it('the PrometheusRule alerts on token expiry < 30 days, Stalled, a refused revision, failed serials and the controller down, with real metric names', async () => {
    const series = await exposition();
    const rule = monitoring.find((m) => m.kind === 'PrometheusRule') as Manifest & { spec: { groups: { rules: { alert: string; expr: string }[] }[] } };
    const rules = rule.spec.groups.flatMap((g) => g.rules);
    for (const r of rules as { alert: string; labels?: { severity?: string }; annotations?: { summary?: string } }[]) {
      expect(r.labels?.severity, r.alert).toMatch(/^(warning|critical)$/);
      expect(r.annotations?.summary, r.alert).toBeTruthy();
    }
    const used = new Set(rules.flatMap((r) => checkExpr(r.expr, series, r.alert)));
    for (const name of ['depctl_token_expiry_timestamp_seconds', 'depctl_condition', 'depctl_refused_revision', 'depctl_device_results']) expect(used).toContain(name);
    const byName = (a: string): string => rules.filter((r) => r.alert === a).map((r) => r.expr).join('\n');
    expect(byName('DepctlTokenExpiringSoon')).toContain('< 30 * 86400');
    expect(byName('DepctlStalled')).toMatch(/type="Stalled", status="True"/);
    expect(byName('DepctlFailedSerials')).toMatch(/result=~"failed/);
    expect(byName('DepctlDown')).toMatch(/^absent\(up\{job="depctl"/);
    // The ServiceMonitor's job label is the Service's name, which DepctlDown relies on.
    const svc = of(overlays.sqlite, 'Service')[0];
    expect(svc?.metadata.name).toBe('depctl');
  });

  it('the dashboard queries only metrics the controller exports, and process metrics under their standard names', async () => {
    const series = await exposition();
    const dash = JSON.parse(readFileSync(join(root, 'deploy', 'grafana', 'depctl-dashboard.json'), 'utf8')) as { panels: { title: string; targets: { expr: string }[] }[] };
    const used = new Set(dash.panels.flatMap((p) => p.targets.flatMap((t) => checkExpr(t.expr, series, p.title))));
    expect(used.size).toBeGreaterThanOrEqual(15);
    expect([...used].filter((n) => /^(process|nodejs)_/.test(n)).length).toBeGreaterThanOrEqual(3);
    expect([...series.keys()].some((n) => /^depctl_(process|nodejs)_/.test(n))).toBe(false);
  });
});

function env(d: Deployment | undefined, name: string): EnvVar | undefined {
  return d?.spec.template.spec.containers[0]?.env?.find((e) => e.name === name);
}

interface Step { name?: string; id?: string; run?: string; uses?: string; with?: Record<string, string>; env?: Record<string, string>; 'working-directory'?: string }

describe('the GitHub Action (action.yml) and the CI templates under deploy/', () => {
  const action = parse(readFileSync(join(root, 'action.yml'), 'utf8')) as { inputs: Record<string, { default?: string }>; runs: { using: string; steps: Step[] } };
  const templates = ['deploy/github/pr-plan.yml', 'deploy/github/pr-plan-local.yml', 'deploy/gitlab/depctl.gitlab-ci.yml', 'action.yml'];

  it('no workflow or template runs or installs a registry package named depctl', () => {
    for (const file of templates) {
      const text = readFileSync(join(root, file), 'utf8').split('\n').filter((l) => !/^\s*#/.test(l)).join('\n');
      expect(text, file).not.toMatch(/\bnpx\b/);
      expect(text, file).not.toMatch(/npm (install|i|exec)\b[^\n]*\bdepctl\b/);
      expect(text, file).not.toMatch(/\bDEPCTL_PACKAGE\b/);
    }
  });

  it('action.yml: a composite action that builds depctl from its own checkout and runs action/run.mjs with every input it reads', () => {
    expect(action.runs.using).toBe('composite');
    const install = action.runs.steps.find((s) => s['working-directory'] === '${{ github.action_path }}');
    expect(install?.run).toMatch(/npm ci .*--ignore-scripts/);
    expect(install?.run).toMatch(/npm run build/);
    const run = action.runs.steps.at(-1) as Step;
    expect(run.run).toBe('node "$GITHUB_ACTION_PATH/action/run.mjs"');
    for (const input of ['config-path', 'plan', 'controller-url', 'api-token', 'comment', 'github-token']) expect(Object.keys(action.inputs)).toContain(input);
    expect(action.inputs['plan']?.default).toBe('remote');
    expect(action.inputs['comment']?.default).toBe('update');
    // Every INPUT_* and DEPCTL_* variable the script reads is one the step sets, from an input.
    const script = readFileSync(join(root, 'action', 'run.mjs'), 'utf8');
    const read = new Set([...script.matchAll(/(?:env\.|input\(')([A-Z_]+)/g)].map((m) => (m[0].startsWith('input') ? `INPUT_${m[1]}` : (m[1] as string))).filter((n) => /^(INPUT|DEPCTL)_/.test(n)));
    expect(read.size).toBeGreaterThanOrEqual(8);
    for (const name of read) if (name !== 'DEPCTL_SECRETS_DIR') expect(Object.keys(run.env ?? {}), name).toContain(name);
    for (const value of Object.values(run.env ?? {})) expect(value).toMatch(/^\$\{\{ inputs\.[a-z-]+ \}\}$/);
  });

  it('pr-plan.yml: runs on pull_request (never pull_request_target), uses the action with a remote plan, and holds only the API token', () => {
    const text = readFileSync(join(root, 'deploy', 'github', 'pr-plan.yml'), 'utf8');
    const wf = parse(text) as { on: Record<string, unknown>; permissions: Record<string, string>; jobs: Record<string, { steps: Step[] }> };
    const steps = Object.values(wf.jobs).flatMap((j) => j.steps);
    expect(Object.keys(wf.on)).toEqual(['pull_request']);
    expect(wf.permissions).toEqual({ contents: 'read', 'pull-requests': 'write' });
    const step = steps.find((s) => s.uses?.startsWith('OWNER/depctl@'));
    expect(step?.with).toMatchObject({ plan: 'remote', 'api-token': '${{ secrets.DEPCTL_API_TOKEN }}', comment: 'update' });
    expect(steps.filter((s) => s.run !== undefined)).toEqual([]);
    // The only secret in the job is the controller's API token.
    expect([...text.matchAll(/secrets\.([A-Z_]+)/g)].map((m) => m[1])).toEqual(['DEPCTL_API_TOKEN']);
    expect(text).toMatch(/full commit SHA/);
  });

  it('pr-plan-local.yml and the GitLab template pass secrets through inputs or variables only, never inline in a script', () => {
    const local = parse(readFileSync(join(root, 'deploy', 'github', 'pr-plan-local.yml'), 'utf8')) as { jobs: Record<string, { steps: Step[] }> };
    const step = Object.values(local.jobs).flatMap((j) => j.steps).find((s) => s.uses?.startsWith('OWNER/depctl@'));
    expect(step?.with).toMatchObject({ plan: 'local', 'secrets-tgz': '${{ secrets.DEPCTL_SECRETS_TGZ }}' });
    const gitlab = parse(readFileSync(join(root, 'deploy', 'gitlab', 'depctl.gitlab-ci.yml'), 'utf8')) as Record<string, { image: { name: string }; script: string[]; rules: { if: string }[] }>;
    const job = gitlab['depctl-plan'];
    expect(job?.image.name).toMatch(/^ghcr\.io\/OWNER\/depctl[:@]/);
    expect(job?.rules[0]?.if).toBe('$CI_PIPELINE_SOURCE == "merge_request_event"');
    const script = job?.script.join('\n') ?? '';
    expect(script).toMatch(/plan --remote "\$DEPCTL_URL" --ref "refs\/merge-requests\/\$CI_MERGE_REQUEST_IID\/head"/);
    expect(script).not.toMatch(/echo[^\n]*\$\{?DEPCTL_(API|NOTE)_TOKEN/);
  });
});

describe('Dockerfile', () => {
  const text = readFileSync(join(root, 'Dockerfile'), 'utf8');
  const instructions = text.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim().replace(/\s+/g, ' ')).filter((l) => l && !l.startsWith('#'));
  const stages = new Map<string, string[]>();
  let current: string[] = [];
  for (const line of instructions) {
    const from = /^FROM\s+(\S+)\s+AS\s+(\S+)$/i.exec(line);
    if (from) stages.set(from[2] as string, (current = [from[1] as string]));
    else current.push(line);
  }
  const build = stages.get('build') ?? [];
  const runtime = stages.get('runtime') ?? [];
  const runtimeRuns = runtime.filter((l) => l.startsWith('RUN ')).join('\n');

  it('builds in a build stage and runs from a slim Node 24 (LTS) runtime stage, the base pinned by digest', () => {
    expect([...stages.keys()]).toEqual(['build', 'runtime']);
    expect(text).toMatch(/^ARG NODE_IMAGE=docker\.io\/library\/node:24\.\d+\.\d+-bookworm-slim@sha256:[0-9a-f]{64}$/m);
    // Offline: no remote BuildKit frontend, no prebuilt or header download for the native addon.
    expect(text).not.toMatch(/^# *syntax=/m);
    expect(build[0]).toBe('${NODE_IMAGE}');
    expect(runtime[0]).toBe('${NODE_IMAGE}');
    expect(build.join('\n')).toMatch(/npm ci .*&& npm_config_build_from_source=true npm_config_nodedir=\/usr\/local npm rebuild better-sqlite3/);
    expect(build.join('\n')).toMatch(/npm run build && npm prune --omit=dev/);
    expect(build.join('\n')).toMatch(/python3 make g\+\+/);
    expect(runtimeRuns).not.toMatch(/python3|g\+\+|\bmake\b|npm (ci|install)/);
  });

  it('copies only bin, dist, schemas, examples, node_modules and package.json into the runtime stage', () => {
    const copies = runtime.filter((l) => l.startsWith('COPY'));
    expect(copies.every((l) => l.includes('--from=build'))).toBe(true);
    expect(copies.map((l) => l.split(/\s+/).at(-1)).sort()).toEqual(['./bin', './dist', './examples', './node_modules', './package.json', './schemas']);
  });

  it('runs as uid 1000 in group 0 (any uid in group 0 works too) with state and secrets volumes, a node HEALTHCHECK on /healthz and the depctl entrypoint', () => {
    expect(runtime).toContain('USER 1000:0');
    // Files under /app; the process starts in the state volume, where run's relative --work-dir lands.
    expect(runtime.filter((l) => l.startsWith('WORKDIR'))).toEqual(['WORKDIR /app', 'WORKDIR /var/lib/depctl']);
    expect(runtime).toContain('VOLUME ["/var/lib/depctl", "/secrets"]');
    expect(runtime).toContain('EXPOSE 8080');
    const health = runtime.find((l) => l.startsWith('HEALTHCHECK')) ?? '';
    expect(health).toMatch(/CMD \["node", "-e", ".*\/healthz.*"\]$/);
    expect(health).toMatch(/DEPCTL_LISTEN/);
    const entry = JSON.parse(runtime.find((l) => l.startsWith('ENTRYPOINT'))?.slice('ENTRYPOINT'.length) ?? '[]') as string[];
    expect(entry.slice(0, 3)).toEqual(['/usr/bin/tini', '--', 'node']);
    expect(entry.at(-1)).toBe('/app/bin/depctl.js');
    // The node flags between them are the ones the benches measure depctl with.
    expect(imageNodeFlags(readFileSync(join(root, 'Dockerfile'), 'utf8'))).toEqual(entry.slice(3, -1));
    expect(entry.slice(3, -1)).toEqual(expect.arrayContaining(['--max-semi-space-size=32', '--no-allocation-site-pretenuring', '--heap-growing-percent=100']));
    const cmd = JSON.parse(runtime.find((l) => l.startsWith('CMD'))?.slice('CMD'.length) ?? '[]') as string[];
    expect(cmd[0]).toBe('run');
    expect(runtime.find((l) => l.startsWith('ENV'))).toMatch(/DEPCTL_STATE=sqlite:\/var\/lib\/depctl\/state\.db .*DEPCTL_SECRETS_DIR=\/secrets .*DEPCTL_LISTEN=0\.0\.0\.0:8080/);
  });

  it('keeps dependencies, builds, git, tests and secrets out of the build context', () => {
    const ignore = readFileSync(join(root, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
    expect(ignore[ignore.findIndex((l) => !l.startsWith('#') && l !== '')]).toBe('*');
    for (const name of ['node_modules', 'dist', '.git', 'test', 'secrets', '**/*.pem', '**/*.p7m']) expect(ignore).toContain(name);
    const allowed = ignore.filter((l) => l.startsWith('!')).map((l) => l.slice(1).replace(/\/$/, '')).sort();
    const copied = build.filter((l) => l.startsWith('COPY')).flatMap((l) => l.split(/\s+/).slice(1, -1)).sort();
    expect(allowed).toEqual(copied);
  });
});
