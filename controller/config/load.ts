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
import { buildEnrollment, normalisePublicUrl } from './enrollment.js';
import type { Assignment, DepConfig, EnrollmentProfile, MdmServer } from './types.js';
import { buildCredential } from '../credentials/config.js';

/** Largest YAML file read: 100,000 serials inline take about 1.6 MiB. */
export const MAX_YAML_BYTES = 16 * 1024 * 1024;

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
  const stats: LoadStats = { files: 0, documents: { MdmServer: 0, EnrollmentProfile: 0, Assignment: 0, Enrollment: 0, Credential: 0 }, serials: 0 };
  const dirStat = await stat(root).catch(() => undefined);
  if (!dirStat?.isDirectory()) {
    sink.error('io-error', { file: dir, line: 1, column: 1 }, dirStat ? 'not a directory' : 'config directory does not exist');
    return finish(undefined, sink, stats);
  }
  const schemas = opts.schemas ?? defaultSchemas();
  const skipKeys = skipKeyCatalogue(schemas.files);
  const files = await walkConfigDir(root, sink, opts.secretsDir === undefined ? {} : { secretsDir: resolve(opts.secretsDir) });
  stats.files = files.yaml.length;

  const docs: ParsedDoc[] = [];
  for (const rel of files.yaml) {
    const read = await readTextFile(join(root, rel), rel, MAX_YAML_BYTES);
    if ('code' in read) {
      sink.error(read.code, { file: rel, line: read.line, column: read.column }, read.message);
      continue;
    }
    docs.push(...parseDocuments(read, schemas, sink));
  }
  for (const d of docs) stats.documents[d.kind]++;
  if (docs.length === 0 && sink.errorCount === 0) {
    sink.error('no-documents', { file: '.', line: 1, column: 1 }, 'no depctl documents found (expected *.yaml files with apiVersion: depctl/v1)');
  }

  const index = indexByName(docs, sink);
  const ctx: BuildContext = { root, realRoot: await realpath(root), now: opts.now ?? new Date(), skipKeys };
  if (opts.publicUrl !== undefined) {
    const publicUrl = normalisePublicUrl(opts.publicUrl);
    if (publicUrl === undefined) sink.error('public-url', { file: '.', line: 1, column: 1 }, `public URL ${JSON.stringify(opts.publicUrl)} is not an absolute http(s) URL without query`);
    else ctx.publicUrl = publicUrl;
  }
  if (opts.unresolvedUrl !== undefined) ctx.unresolvedUrl = opts.unresolvedUrl;
  if (opts.secretsDir !== undefined) ctx.secretsDir = await realpath(opts.secretsDir).catch(() => resolve(opts.secretsDir as string));
  const valid = (kind: Kind): ParsedDoc[] => [...index[kind].values()].filter((d) => d.valid);
  const servers: MdmServer[] = valid('MdmServer').map((d) => buildServer(d, index, ctx, sink));
  const profiles: EnrollmentProfile[] = valid('EnrollmentProfile').map((d) => buildProfile(d, index, ctx, sink));
  const registry = new SerialRegistry();
  const built: { a: Assignment; d: ParsedDoc }[] = [];
  for (const d of valid('Assignment')) {
    built.push({ a: await buildAssignment(d, index, ctx, registry, sink), d });
  }
  checkMatchOverlap(built, sink);
  stats.serials = registry.size;

  const enrollments = valid('Enrollment').map((d) => buildEnrollment(d, ctx, sink));
  const credentials = valid('Credential').map((d) => buildCredential(d, ctx, sink));
  const config: DepConfig = { dir: root, servers, profiles, assignments: built.map((b) => b.a), ...(enrollments.length > 0 ? { enrollments } : {}), ...(credentials.length > 0 ? { credentials } : {}) };
  return finish(config, sink, stats);
}

function finish(config: DepConfig | undefined, sink: ProblemSink, stats: LoadStats): LoadResult {
  const problems = sortProblems(sink.problems);
  const errorCount = problems.filter((p) => p.severity === 'error').length;
  return { config: errorCount === 0 ? config : undefined, problems, errorCount, warningCount: problems.length - errorCount, stats };
}
