import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';

// The deployment examples (deploy/kubernetes, deploy/github) and the Dockerfile are not run by any test
// (no cluster, no Docker engine): these checks hold them to what deploy/README.md promises.

const root = join(import.meta.dirname, '..', '..');
const k8sDir = join(root, 'deploy', 'kubernetes');

interface Manifest {
  file: string;
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  [key: string]: unknown;
}
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
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number; seccompProfile?: { type?: string } };
  automountServiceAccountToken?: boolean;
  containers: Container[];
  volumes?: Volume[];
}
interface Deployment extends Manifest { spec: { replicas: number; strategy?: { type?: string }; template: { spec: PodSpec } } }

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? yamlFiles(join(dir, e.name)) : /\.ya?ml$/.test(e.name) ? [join(dir, e.name)] : []);
}

function loadManifests(): Manifest[] {
  return yamlFiles(k8sDir).flatMap((file) =>
    parseAllDocuments(readFileSync(file, 'utf8')).flatMap((doc) => {
      if (doc.errors.length > 0) throw new Error(`${relative(root, file)}: ${doc.errors[0]?.message ?? ''}`);
      const value = doc.toJS() as Omit<Manifest, 'file'> | null;
      return value === null ? [] : [{ ...value, file: relative(k8sDir, file) } as Manifest];
    }));
}

const manifests = loadManifests();
const deployments = manifests.filter((m): m is Deployment => m.kind === 'Deployment');
const byKind = (kind: string): Manifest[] => manifests.filter((m) => m.kind === kind);

describe('Kubernetes manifests', () => {
  it('parse, carry apiVersion/kind/name, and live in the depctl namespace', () => {
    expect(manifests.length).toBeGreaterThanOrEqual(10);
    for (const m of manifests) {
      expect(m.apiVersion, m.file).toMatch(/^[a-z.]*\/?v\d/);
      expect(m.metadata.name, m.file).toMatch(/^[a-z0-9-]+$/);
      if (m.kind !== 'Namespace') expect(m.metadata.namespace, `${m.file} ${m.kind}`).toBe('depctl');
    }
    expect(byKind('Namespace').map((m) => m.metadata.name)).toEqual(['depctl']);
    for (const kind of ['ServiceAccount', 'Secret', 'ConfigMap', 'Service', 'PersistentVolumeClaim']) expect(byKind(kind).length, kind).toBeGreaterThan(0);
  });

  it('hold only placeholder secret values, never base64 data', () => {
    for (const s of byKind('Secret')) {
      expect(s['data'], s.file).toBeUndefined();
      for (const [key, value] of Object.entries(s['stringData'] as Record<string, string>)) expect(value, `${s.file} ${key}`).toMatch(/^REPLACE_ME\b/);
    }
  });

  it('have an SQLite variant with one replica on a PVC and a Postgres variant with two', () => {
    const sqlite = deployments.find((d) => d.file.startsWith('sqlite/'));
    const postgres = deployments.find((d) => d.file.startsWith('postgres/'));
    expect(sqlite?.spec.replicas).toBe(1);
    // Recreate: the old pod lets go of the SQLite volume before the new one opens it.
    expect(sqlite?.spec.strategy?.type).toBe('Recreate');
    const claim = sqlite?.spec.template.spec.volumes?.find((v) => v.persistentVolumeClaim)?.persistentVolumeClaim?.claimName;
    expect(byKind('PersistentVolumeClaim').map((p) => p.metadata.name)).toContain(claim);
    expect(env(sqlite, 'DEPCTL_STATE')?.value).toMatch(/^sqlite:\/var\/lib\/depctl\//);
    expect(postgres?.spec.replicas).toBeGreaterThanOrEqual(2);
    expect(postgres?.spec.template.spec.volumes?.some((v) => v.persistentVolumeClaim)).toBe(false);
    expect(env(postgres, 'DEPCTL_STATE')?.valueFrom?.secretKeyRef).toBeDefined();
  });

  for (const d of deployments) {
    describe(d.file, () => {
      const pod = d.spec.template.spec;
      const c = pod.containers[0] as Container;

      it('runs as non-root with a read-only root file system, no capabilities and RuntimeDefault seccomp', () => {
        expect(pod.securityContext?.runAsNonRoot).toBe(true);
        expect(pod.securityContext?.runAsUser).toBeGreaterThan(0);
        expect(pod.securityContext?.seccompProfile?.type).toBe('RuntimeDefault');
        expect(pod.automountServiceAccountToken).toBe(false);
        expect(c.securityContext).toMatchObject({ runAsNonRoot: true, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true });
        expect(c.securityContext?.capabilities?.drop).toEqual(['ALL']);
      });

      it('probes /healthz for liveness and /readyz for readiness on the container port', () => {
        expect(c.livenessProbe?.httpGet?.path).toBe('/healthz');
        expect(c.readinessProbe?.httpGet?.path).toBe('/readyz');
        const port = c.ports?.find((p) => p.name === c.readinessProbe?.httpGet?.port);
        expect(port?.containerPort).toBe(8080);
        expect(env(d, 'DEPCTL_LISTEN')?.value).toBe('0.0.0.0:8080');
        const svc = byKind('Service')[0] as Manifest & { spec: { ports: { targetPort: string }[] } };
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
        expect(env(d, 'DEPCTL_WEBHOOK_SECRET')?.valueFrom?.secretKeyRef).toBeDefined();
        // Every file the example config names is mounted from a key that the Secret has.
        const secret = byKind('Secret').find((m) => m.metadata.name === secretVolume?.secret?.secretName);
        const keys = Object.keys((secret?.['stringData'] ?? {}) as Record<string, string>);
        const items = secretVolume?.secret?.items ?? [];
        for (const item of items) expect(keys, item.key).toContain(item.key);
        const examples = readFileSync(join(root, 'examples', 'school', 'servers.yaml'), 'utf8');
        const files = [...examples.matchAll(/\{ file: ([^ }]+) \}/g)].map((m) => m[1]);
        expect(files.length).toBeGreaterThan(0);
        expect(items.map((i) => i.path).sort()).toEqual(files.sort());
        const names = new Set(byKind('Secret').map((s) => s.metadata.name));
        for (const ref of [...(c.env ?? []).map((e) => e.valueFrom?.secretKeyRef?.name), secretVolume?.secret?.secretName]) {
          if (ref !== undefined) expect(names, ref).toContain(ref);
        }
      });

      it('writes only to the state volume and an emptyDir /tmp, and checks the repository out there', () => {
        const writable = (c.volumeMounts ?? []).filter((m) => !m.readOnly).map((m) => m.mountPath).sort();
        expect(writable).toEqual(['/tmp', '/var/lib/depctl']);
        const tmp = c.volumeMounts?.find((m) => m.mountPath === '/tmp');
        expect(pod.volumes?.find((v) => v.name === tmp?.name)?.emptyDir).toBeDefined();
        expect(c.args?.[0]).toBe('run');
        expect(c.args).toContain('--work-dir=/var/lib/depctl/checkout');
      });
    });
  }
});

function env(d: Deployment | undefined, name: string): EnvVar | undefined {
  return d?.spec.template.spec.containers[0]?.env?.find((e) => e.name === name);
}

interface Step { name?: string; run?: string; uses?: string; env?: Record<string, string> }

describe('deploy/github/pr-plan.yml', () => {
  const text = readFileSync(join(root, 'deploy', 'github', 'pr-plan.yml'), 'utf8');
  const wf = parse(text) as { on: Record<string, unknown>; permissions: Record<string, string>; jobs: Record<string, { steps: Step[] }> };
  const steps = Object.values(wf.jobs).flatMap((j) => j.steps);

  it('runs on pull_request (never pull_request_target) and may write PR comments', () => {
    expect(Object.keys(wf.on)).toEqual(['pull_request']);
    expect(wf.permissions).toEqual({ contents: 'read', 'pull-requests': 'write' });
  });

  it('validates with GitHub annotations, plans in markdown and posts one comment it updates', () => {
    expect(steps.some((s) => /depctl validate .*--format github/.test(s.run ?? ''))).toBe(true);
    expect(steps.some((s) => /depctl plan .*--format markdown/.test(s.run ?? ''))).toBe(true);
    const post = steps.find((s) => s.uses?.startsWith('actions/github-script@'));
    expect(post).toBeDefined();
    expect(JSON.stringify(post)).toMatch(/updateComment/);
  });

  it('passes secrets through env only, never inline in a script or echoed', () => {
    for (const s of steps) {
      expect(s.run ?? '', s.name).not.toMatch(/\$\{\{\s*secrets\./);
      for (const [name, value] of Object.entries(s.env ?? {})) {
        if (/secrets\./.test(value)) expect(s.run ?? '', name).not.toMatch(new RegExp(`echo[^\\n]*\\$\\{?${name}\\b`));
      }
    }
    expect(text).toMatch(/rm -rf "\$DEPCTL_SECRETS_DIR"/);
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

  it('builds in a build stage and runs from a slim Node 22 runtime stage', () => {
    expect([...stages.keys()]).toEqual(['build', 'runtime']);
    expect(text).toMatch(/^ARG NODE_IMAGE=node:22-bookworm-slim$/m);
    expect(build[0]).toBe('${NODE_IMAGE}');
    expect(runtime[0]).toBe('${NODE_IMAGE}');
    expect(build.join('\n')).toMatch(/npm ci .*&& npm rebuild better-sqlite3/);
    expect(build.join('\n')).toMatch(/npm run build && npm prune --omit=dev/);
    expect(build.join('\n')).toMatch(/python3 make g\+\+/);
    expect(runtimeRuns).not.toMatch(/python3|g\+\+|\bmake\b|npm (ci|install)/);
  });

  it('copies only bin, dist, schemas, node_modules and package.json into the runtime stage', () => {
    const copies = runtime.filter((l) => l.startsWith('COPY'));
    expect(copies.every((l) => l.includes('--from=build'))).toBe(true);
    expect(copies.map((l) => l.split(/\s+/).at(-1)).sort()).toEqual(['./bin', './dist', './node_modules', './package.json', './schemas']);
  });

  it('runs as uid 1000 with state and secrets volumes, a node HEALTHCHECK on /healthz and the depctl entrypoint', () => {
    expect(runtime).toContain('USER 1000:1000');
    // Files under /app; the process starts in the state volume, where run's relative --work-dir lands.
    expect(runtime.filter((l) => l.startsWith('WORKDIR'))).toEqual(['WORKDIR /app', 'WORKDIR /var/lib/depctl']);
    expect(runtime).toContain('VOLUME ["/var/lib/depctl", "/secrets"]');
    expect(runtime).toContain('EXPOSE 8080');
    const health = runtime.find((l) => l.startsWith('HEALTHCHECK')) ?? '';
    expect(health).toMatch(/CMD \["node", "-e", ".*\/healthz.*"\]$/);
    expect(health).toMatch(/DEPCTL_LISTEN/);
    const entry = JSON.parse(runtime.find((l) => l.startsWith('ENTRYPOINT'))?.slice('ENTRYPOINT'.length) ?? '[]') as string[];
    expect(entry.slice(-2)).toEqual(['node', '/app/bin/depctl.js']);
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
