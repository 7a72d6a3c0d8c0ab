import { parseAllDocuments, isMap, isScalar, isSeq, type Document, type Node } from 'yaml';
import { ProblemSink } from './problems.js';
import { extractLongSerialLists, type ExtractedList } from './fast-serials.js';
import type { SourceFile } from './source.js';
import { KINDS, type CompiledSchemas, type Kind } from './schemas.js';
import { reportSchemaErrors } from './schema-errors.js';
import { findNode, nodeOffset } from './yaml-nodes.js';
import { didYouMean } from './suggest.js';
import { DEFAULT_INPUT_LIMITS, findExcessiveNesting, type InputLimits } from './limits.js';

/** A depctl document as read from YAML, before cross-checks. */
export interface ParsedDoc {
  kind: Kind;
  /** metadata.name when it is a valid name, even if the rest of the document is invalid. */
  name: string | undefined;
  /** True when the document passed its JSON Schema. */
  valid: boolean;
  value: Record<string, unknown>;
  doc: Document;
  source: SourceFile;
  /** Offset of the document's first node (for locations). */
  offset: number;
  /**
   * Offsets of the serial list's items when the fast path read it (no YAML nodes exist for them): `spec.serials`
   * of an Assignment, `spec.devices.serials` of an MdmServer (issue 15).
   */
  serialOffsets?: number[];
}

const YAML_CODE_MESSAGES: Record<string, string> = {
  TAB_AS_INDENT: 'tabs are not allowed for indentation in YAML; indent with spaces',
  DUPLICATE_KEY: 'duplicate key',
  BAD_ALIAS: 'alias refers to an anchor that does not exist',
};

/** Parses every document of a YAML file, reports YAML and schema problems, and returns the depctl documents. */
export function parseDocuments(
  source: SourceFile,
  schemas: CompiledSchemas,
  sink: ProblemSink,
  limits: Pick<InputLimits, 'depth' | 'aliases'> = DEFAULT_INPUT_LIMITS,
): ParsedDoc[] {
  const extraction = extractLongSerialLists(source.text);
  // The YAML parser recurses per nesting level: refuse deep nesting before it sees the text. Scanned on the text
  // with long serial lists blanked out (same offsets), so a list of 100,000 serials costs the scan nothing.
  const deep = findExcessiveNesting(extraction.text, limits.depth);
  if (deep) {
    sink.error('input-limit', source.loc(deep.offset), `YAML nests collections more than ${limits.depth} levels deep; a depctl document needs a handful (input limit "depth")`);
    return [];
  }
  if (extraction.lists.length > 0) {
    const local = new ProblemSink();
    const docs = parseText(extraction.text, extraction.lists, source, schemas, local, limits.aliases);
    if (docs) {
      sink.problems.push(...local.problems);
      return docs;
    }
  }
  return parseText(source.text, [], source, schemas, sink, limits.aliases) ?? [];
}

/** Parses text (possibly with fast-path lists blanked out); undefined when a fast-path list was not claimed. */
function parseText(
  text: string,
  lists: readonly ExtractedList[],
  source: SourceFile,
  schemas: CompiledSchemas,
  sink: ProblemSink,
  maxAliases: number,
): ParsedDoc[] | undefined {
  const claimed = new Set<ExtractedList>();
  const docs = parseAllDocuments(text, { prettyErrors: false, uniqueKeys: true, strict: true });
  const list = Array.isArray(docs) ? docs : [docs];
  const out: ParsedDoc[] = [];
  for (const doc of list) {
    if (doc.errors.length > 0) {
      // After the first syntax error the parser's later complaints are mostly echoes of it; duplicate
      // keys are independent mistakes and are all reported.
      const firstSyntax = doc.errors.find((e) => e.code !== 'DUPLICATE_KEY');
      for (const e of doc.errors.filter((x) => x.code === 'DUPLICATE_KEY' || x === firstSyntax)) {
        const offset = e.pos[0];
        const code = e.code === 'DUPLICATE_KEY' ? 'duplicate-key' : e.code === 'TAB_AS_INDENT' ? 'yaml-tab' : 'yaml-syntax';
        const base = YAML_CODE_MESSAGES[e.code] ?? e.message.replace(/\s+at line \d+, column \d+[\s\S]*$/, '');
        const detail = e.code === 'DUPLICATE_KEY' ? `${base} "${keyText(source.text, e.pos)}" (each key may appear once per mapping)` : base;
        sink.error(code, source.loc(offset), `YAML: ${detail}`);
      }
      continue;
    }
    for (const w of doc.warnings) {
      const code = w.code === 'TAG_RESOLVE_FAILED' ? 'yaml-tag' : 'yaml-syntax';
      sink.error(code, source.loc(w.pos[0]), `YAML: ${w.message.replace(/\s+at line[\s\S]*$/, '')} (depctl accepts plain YAML only: no custom tags)`);
    }
    if (doc.warnings.length > 0) continue;
    // An empty document, e.g. a trailing `---` (common in generated YAML): the parser gives it an empty null
    // scalar, unlike an explicit `~` or `null`, which is a single value and reported below.
    if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null && doc.contents.range?.[0] === doc.contents.range?.[1])) continue;
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: maxAliases });
    } catch (err) {
      sink.error('yaml-alias', source.loc(nodeOffset(doc.contents as Node)), `YAML: ${aliasMessage(err, maxAliases)}`);
      continue;
    }
    const parsed = checkHeader(doc, value, source, sink);
    if (!parsed) continue;
    const listPath = FAST_LIST_PATHS[parsed.kind];
    const list = listPath ? claimList(doc, value, lists, listPath) : undefined;
    if (list) claimed.add(list);
    const validate = schemas.validators[parsed.kind];
    const valid = validate(value) === true;
    if (!valid) reportSchemaErrors(validate.errors ?? [], { doc, source, value, sink });
    out.push({ ...parsed, valid, value: value as Record<string, unknown>, doc, source, ...(list ? { serialOffsets: list.items.map((i) => i.offset) } : {}) });
  }
  return claimed.size === lists.length ? out : undefined;
}

/** Where each kind may hold a long serial list the fast path reads. */
const FAST_LIST_PATHS: Partial<Record<Kind, readonly string[]>> = {
  Assignment: ['spec', 'serials'],
  MdmServer: ['spec', 'devices', 'serials'],
};

/** Puts a fast-path list back at `path` (ending in `serials`) when its key is this document's key there. */
function claimList(doc: Document, value: unknown, lists: readonly ExtractedList[], path: readonly string[]): ExtractedList | undefined {
  if (lists.length === 0) return undefined;
  const found = findNode(doc, [...path]);
  const keyOffset = found.key?.range?.[0];
  const list = lists.find((l) => l.keyOffset === keyOffset);
  let parent: unknown = value;
  for (const key of path.slice(0, -1)) parent = parent !== null && typeof parent === 'object' ? (parent as Record<string, unknown>)[key] : undefined;
  const holder = parent !== null && typeof parent === 'object' && !Array.isArray(parent) ? (parent as Record<string, unknown>) : undefined;
  if (!list || !holder || holder['serials'] !== null) return undefined;
  holder['serials'] = list.items.map((i) => i.raw);
  return list;
}

function checkHeader(
  doc: Document,
  value: unknown,
  source: SourceFile,
  sink: ProblemSink,
): { kind: Kind; name: string | undefined; offset: number } | undefined {
  const offset = nodeOffset(doc.contents as Node);
  const at = (path: string[]): ReturnType<SourceFile['loc']> => {
    const f = findNode(doc, path);
    return source.loc(nodeOffset(f.node ?? f.deepest));
  };
  if (!isMap(doc.contents) || value === null || typeof value !== 'object' || Array.isArray(value)) {
    const what = isSeq(doc.contents) ? 'a list' : isScalar(doc.contents) ? 'a single value' : 'not a mapping';
    sink.error('not-a-document', source.loc(offset), `document is ${what}; expected a mapping with apiVersion: depctl/v1, kind, metadata and spec`);
    return undefined;
  }
  const v = value as Record<string, unknown>;
  if (v['apiVersion'] === undefined) {
    sink.error('api-version', source.loc(offset), 'missing apiVersion (expected "depctl/v1"; is this a depctl document?)');
    return undefined;
  }
  if (v['apiVersion'] !== 'depctl/v1') {
    sink.error('api-version', at(['apiVersion']), `unsupported apiVersion ${JSON.stringify(v['apiVersion'])}; this depctl reads "depctl/v1"`);
    return undefined;
  }
  const kind = v['kind'];
  if (typeof kind !== 'string' || !(KINDS as readonly string[]).includes(kind)) {
    const hint = typeof kind === 'string' ? didYouMean(kind, KINDS) : '';
    sink.error('unknown-kind', kind === undefined ? source.loc(offset) : at(['kind']), `${kind === undefined ? 'missing kind' : `unknown kind ${JSON.stringify(kind)}`}${hint}; expected one of ${KINDS.join(', ')}`);
    return undefined;
  }
  const meta = v['metadata'];
  const rawName = meta && typeof meta === 'object' ? (meta as Record<string, unknown>)['name'] : undefined;
  const namePattern = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
  return { kind: kind as Kind, name: typeof rawName === 'string' && namePattern.test(rawName) ? rawName : undefined, offset };
}

function keyText(text: string, pos: [number, number]): string {
  const line = text.slice(pos[0], text.indexOf('\n', pos[0]) === -1 ? undefined : text.indexOf('\n', pos[0]));
  return (line.split(':')[0] ?? '').trim().slice(0, 60);
}

function aliasMessage(err: unknown, maxAliases: number): string {
  const msg = err instanceof Error ? err.message : String(err);
  if (/Excessive alias count/i.test(msg)) return `too many alias expansions (over ${maxAliases}); anchors and aliases may not be used to blow up a document (input limit "aliases")`;
  return msg.replace(/\s+at line[\s\S]*$/, '');
}
