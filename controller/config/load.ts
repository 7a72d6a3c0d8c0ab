import { realpath, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ProblemSink, sortProblems, type Problem } from './problems.js';
import { defaultSchemas, type CompiledSchemas, type Kind } from './schemas.js';
import { skipKeyCatalogue } from './skip-keys.js';
import { walkConfigDir } from './files.js';
import { readTextFile } from './source.js';
import { parseDocuments, type ParsedDoc } from './documents.js';
import { buildProfile, buildServer, indexByName, type BuildContext } from './build.js';
import { buildAssignment, checkMatchOverlap, SerialRegistry } from './assignments.js';
import { countDocumentMarkers, DEFAULT_INPUT_LIMITS, type InputLimits } from './limits.js';
import { defaultTrustPolicy, type TrustPolicy } from './trust.js';
import { buildEnrollment, normalisePublicUrl } from './enrollment.js';
import type { Assignment, DepConfig, EnrollmentProfile, MdmServer } from './types.js';
import { buildCredential } from '../credentials/config.js';
import { buildOrganization, checkOrganizationAccounts } from './organization.js';
import { buildOwnership, OwnershipRegistry } from './ownership-build.js';

/** Largest YAML file read by default: 100,000 serials inline take about 1.6 MiB. */
export const MAX_YAML_BYTES = DEFAULT_INPUT_LIMITS.yamlFileBytes;

/** Options of loadConfig; all have defaults. */
export interface LoadOptions {
  /** Clock for expiry checks (certificates). */
  now?: Date;
  /** Compiled schemas (compiled once per process by default). */
  schemas?: CompiledSchemas;
  /**
   * The secrets directory the credentials are read from (`--secrets-dir`), absolute. Files inside it are not
   * reported as secrets in the repository even when it lies inside the config directory (unless git tracks them).
   */
  secretsDir?: string;
  /** Bounds on files, documents, nesting, serials, bytes and time (limits.ts); the defaults when absent. */
  limits?: InputLimits;
  /**
   * Which files, environment variables and DEP hosts references may name (trust.ts). Default: the secrets
   * directory (or, without one, relative paths that stay below it), the `DEPCTL_` prefix, Apple's host only.
   */
  trust?: TrustPolicy;
  /** Milliseconds clock for the `loadMs` limit (tests pass a manual one). Default: Date.now. */
  clock?: () => number;
  /** The controller's public base URL, for `url: { enrollment }` (issue 14); see BuildContext.publicUrl. */
  publicUrl?: string;
  /** See BuildContext.unresolvedUrl (validate passes 'warning'). */
  unresolvedUrl?: 'warning' | 'error';
}

/** Counts shown in validate's summary. */
export interface LoadStats {
  files: number;
  documents: Record<Kind, number>;
  serials: number;
}

/** The outcome of loading a config directory: a config only when there is no error. */
export interface LoadResult {
  config: DepConfig | undefined;
  problems: Problem[];
  errorCount: number;
  warningCount: number;
  stats: LoadStats;
}

/**
 * Loads and validates a config repository: every YAML file under `dir`, each document against its JSON
 * Schema, then cross-references, serial lists and Apple's rules. Never throws for bad input: every problem
 * is returned, with its location, and `config` is undefined when any error was found.
 */
export async function loadConfig(dir: string, opts: LoadOptions = {}): Promise<LoadResult> {
  const sink = new ProblemSink();
  const root = resolve(dir);
  const stats: LoadStats = { files: 0, documents: { MdmServer: 0, EnrollmentProfile: 0, Assignment: 0, Enrollment: 0, Credential: 0, Organization: 0 }, serials: 0 };
  const dirStat = await stat(root).catch(() => undefined);
  if (!dirStat?.isDirectory()) {
    sink.error('io-error', { file: dir, line: 1, column: 1 }, dirStat ? 'not a directory' : 'config directory does not exist');
    return finish(undefined, sink, stats);
  }
  const schemas = opts.schemas ?? defaultSchemas();
  const skipKeys = skipKeyCatalogue(schemas.files);
  const files = await walkConfigDir(root, sink, opts.secretsDir === undefined ? {} : { secretsDir: resolve(opts.secretsDir) });
  stats.files = files.yaml.length;
  const limits = opts.limits ?? DEFAULT_INPUT_LIMITS;
  const budget = new LoadBudget(limits, opts.clock ?? Date.now);
  if (files.yaml.length > limits.files) {
    sink.error('input-limit', { file: '.', line: 1, column: 1 }, `${files.yaml.length} YAML files, over the limit of ${limits.files} (input limit "files"); nothing was read`);
    return finish(undefined, sink, stats);
  }

  const docs: ParsedDoc[] = [];
  for (const rel of files.yaml) {
    if (budget.overTime(sink, rel)) return finish(undefined, sink, stats);
    const read = await readTextFile(join(root, rel), rel, Math.min(limits.yamlFileBytes, budget.bytesLeft()));
    if ('code' in read) {
      sink.error(read.code, { file: rel, line: read.line, column: read.column }, budget.explainSizeError(read.message));
      continue;
    }
    budget.spend(read.text.length);
    if (docs.length + countDocumentMarkers(read.text) > limits.documents) {
      sink.error('input-limit', { file: rel, line: 1, column: 1 }, `more than ${limits.documents} documents in the configuration (input limit "documents"); reading stopped at this file`);
      return finish(undefined, sink, stats);
    }
    docs.push(...parseDocuments(read, schemas, sink, limits));
  }
  for (const d of docs) stats.documents[d.kind]++;
  if (docs.length === 0 && sink.errorCount === 0) {
    sink.error('no-documents', { file: '.', line: 1, column: 1 }, 'no depctl documents found (expected *.yaml files with apiVersion: depctl/v1)');
  }

  const index = indexByName(docs, sink);
  const ctx: BuildContext = { root, realRoot: await realpath(root), now: opts.now ?? new Date(), skipKeys, serialFileBytes: () => Math.min(limits.serialFileBytes, budget.bytesLeft()) };
  if (opts.publicUrl !== undefined) {
    const publicUrl = normalisePublicUrl(opts.publicUrl);
    if (publicUrl === undefined) sink.error('public-url', { file: '.', line: 1, column: 1 }, `public URL ${JSON.stringify(opts.publicUrl)} is not an absolute http(s) URL without query`);
    else ctx.publicUrl = publicUrl;
  }
  if (opts.unresolvedUrl !== undefined) ctx.unresolvedUrl = opts.unresolvedUrl;
  if (opts.secretsDir !== undefined) ctx.secretsDir = await realpath(opts.secretsDir).catch(() => resolve(opts.secretsDir as string));
  // Without a secrets directory, relative references are checked lexically against a stand-in below the root.
  ctx.trust = opts.trust ?? defaultTrustPolicy(opts.secretsDir ?? join(root, '.depctl-secrets-dir'));
  const valid = (kind: Kind): ParsedDoc[] => [...index[kind].values()].filter((d) => d.valid);
  const serverDocs = valid('MdmServer');
  const servers: MdmServer[] = serverDocs.map((d) => buildServer(d, index, ctx, sink));
  // Ownership in Apple Business/School Manager (issue 15): serials may come from files, so one server at a time.
  const owners = new OwnershipRegistry();
  for (const [i, d] of serverDocs.entries()) {
    if (budget.overTime(sink, d.source.relPath)) return finish(undefined, sink, stats);
    const ownership = await buildOwnership(d, index, ctx, owners, sink);
    const server = servers[i];
    if (ownership && server) server.ownership = ownership;
    if (owners.size > limits.serials) {
      sink.error('input-limit', d.source.loc(d.offset), `more than ${limits.serials.toLocaleString('en-US')} owned serial numbers in the configuration (input limit "serials"); reading stopped at this server`);
      return finish(undefined, sink, stats);
    }
  }
  const profiles: EnrollmentProfile[] = valid('EnrollmentProfile').map((d) => buildProfile(d, index, ctx, sink));
  const registry = new SerialRegistry();
  const built: { a: Assignment; d: ParsedDoc }[] = [];
  for (const d of valid('Assignment')) {
    if (budget.overTime(sink, d.source.relPath)) return finish(undefined, sink, stats);
    built.push({ a: await buildAssignment(d, index, ctx, registry, sink), d });
    if (registry.size > limits.serials) {
      sink.error('input-limit', d.source.loc(d.offset), `more than ${limits.serials.toLocaleString('en-US')} serial numbers in the configuration (input limit "serials"); reading stopped at this assignment`);
      return finish(undefined, sink, stats);
    }
  }
  checkMatchOverlap(built, sink);
  stats.serials = registry.size;

  const enrollments = valid('Enrollment').map((d) => buildEnrollment(d, ctx, sink));
  const credentials = valid('Credential').map((d) => buildCredential(d, ctx, sink));
  const organizations = valid('Organization').map((d) => buildOrganization(d, ctx, sink));
  checkOrganizationAccounts(organizations, sink);
  const config: DepConfig = {
    dir: root,
    servers,
    profiles,
    assignments: built.map((b) => b.a),
    ...(enrollments.length > 0 ? { enrollments } : {}),
    ...(credentials.length > 0 ? { credentials } : {}),
    ...(organizations.length > 0 ? { organizations } : {}),
  };
  return finish(config, sink, stats);
}

/** The bytes and time one load may still spend. */
class LoadBudget {
  private readonly deadline: number;
  private spent = 0;

  constructor(
    private readonly limits: InputLimits,
    private readonly clock: () => number,
  ) {
    this.deadline = clock() + limits.loadMs;
  }

  bytesLeft(): number {
    return Math.max(1, this.limits.totalBytes - this.spent);
  }

  spend(bytes: number): void {
    this.spent += bytes;
  }

  /** A size error from readTextFile, with the limit it came from when it was the total budget. */
  explainSizeError(message: string): string {
    return this.limits.totalBytes - this.spent < this.limits.yamlFileBytes ? `${message} (input limit "totalBytes": the files read so far used ${this.spent.toLocaleString('en-US')} bytes)` : message;
  }

  /** Reports and returns true once the load has run past its time limit. */
  overTime(sink: ProblemSink, file: string): boolean {
    if (this.clock() <= this.deadline) return false;
    sink.error('input-limit', { file, line: 1, column: 1 }, `loading the configuration took more than ${this.limits.loadMs / 1000} s (input limit "loadMs"); stopped here`);
    return true;
  }
}

function finish(config: DepConfig | undefined, sink: ProblemSink, stats: LoadStats): LoadResult {
  const problems = sortProblems(sink.problems);
  const errorCount = problems.filter((p) => p.severity === 'error').length;
  return { config: errorCount === 0 ? config : undefined, problems, errorCount, warningCount: problems.length - errorCount, stats };
}
