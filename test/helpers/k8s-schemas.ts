/**
 * Validates rendered Kubernetes objects against the Kubernetes API's JSON schemas, as packaged in the npm
 * registry by `kubernetes-models` (built-in kinds, from the Kubernetes OpenAPI document) and
 * `@kubernetes-models/prometheus-operator` (ServiceMonitor, PrometheusRule, from the operator's CRDs).
 * Types, required fields, enums and formats are checked; the schemas allow unknown fields, so a misspelt
 * optional field is not caught here (kubectl's server-side field validation catches it at apply time).
 *
 * Also a command: `node --import tsx test/helpers/k8s-schemas.ts FILE...` validates every document of the
 * given YAML files and exits 1 on the first invalid one (used by .ci/kustomize-check.sh).
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseAllDocuments } from 'yaml';

/** One Kubernetes object as kustomize renders it. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [key: string]: unknown };
  [key: string]: unknown;
}

/** The outcome for one object: `error` is undefined when it is valid. */
export interface SchemaResult {
  object: string;
  error?: string;
}

interface ModelClass {
  new (data: unknown): { validate(): void };
}

/** The module that carries the schema of `apiVersion`/`kind`; throws for a kind no package knows. */
function modulePath(apiVersion: string, kind: string): string {
  const slash = apiVersion.indexOf('/');
  const group = slash < 0 ? '' : apiVersion.slice(0, slash);
  const version = slash < 0 ? apiVersion : apiVersion.slice(slash + 1);
  if (!/^[a-z0-9.]*$/.test(group) || !/^v\d+[a-z0-9]*$/.test(version) || !/^[A-Z][A-Za-z0-9]*$/.test(kind)) throw new Error(`not a Kubernetes apiVersion/kind: ${apiVersion} ${kind}`);
  if (group === 'monitoring.coreos.com') return `@kubernetes-models/prometheus-operator/${group}/${version}/${kind}`;
  return `kubernetes-models/${group === '' ? '' : `${group}/`}${version}/${kind}`;
}

/** Validates each object against the schema of its apiVersion and kind. An unknown kind is an error. */
export async function validateObjects(objects: readonly KubeObject[]): Promise<SchemaResult[]> {
  const results: SchemaResult[] = [];
  for (const o of objects) {
    const object = `${o.kind}/${o.metadata?.name ?? '?'}`;
    try {
      const mod = (await import(modulePath(o.apiVersion, o.kind))) as Record<string, ModelClass | undefined>;
      const Model = mod[o.kind];
      if (Model === undefined) throw new Error(`no schema for ${o.apiVersion} ${o.kind}`);
      new Model(normalise(o)).validate();
      results.push({ object });
    } catch (err) {
      const code = (err as { code?: string }).code;
      const message = code === 'ERR_MODULE_NOT_FOUND' ? `no schema for ${o.apiVersion} ${o.kind}` : (err as Error).message;
      results.push({ object, error: message });
    }
  }
  return results;
}

/**
 * kustomize v5 wraps long base64 values of generated Secrets over several lines; the API server's decoder
 * (Go's encoding/base64) skips the newlines, the schema's `byte` format does not, so they are removed here.
 */
function normalise(o: KubeObject): KubeObject {
  if (o.kind !== 'Secret' || typeof o['data'] !== 'object' || o['data'] === null) return o;
  const data = Object.fromEntries(Object.entries(o['data'] as Record<string, unknown>).map(([k, v]) => [k, typeof v === 'string' ? v.replace(/\n/g, '') : v]));
  return { ...o, data };
}

/** Parses a multi-document YAML stream (kustomize output) into objects; throws on a YAML error. */
export function parseObjects(text: string): KubeObject[] {
  return parseAllDocuments(text).flatMap((doc) => {
    if (doc.errors.length > 0) throw new Error(doc.errors[0]?.message ?? 'YAML error');
    const value = doc.toJS() as KubeObject | null;
    return value === null ? [] : [value];
  });
}

async function main(files: string[]): Promise<number> {
  let bad = 0;
  for (const file of files) {
    const results = await validateObjects(parseObjects(readFileSync(file, 'utf8')));
    for (const r of results) {
      if (r.error === undefined) continue;
      bad++;
      console.error(`${file}: ${r.object}: ${r.error}`);
    }
    console.log(`${file}: ${results.length - results.filter((r) => r.error !== undefined).length}/${results.length} objects valid`);
  }
  return bad === 0 && files.length > 0 ? 0 : 1;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main(process.argv.slice(2)).then((code) => process.exit(code), (err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
