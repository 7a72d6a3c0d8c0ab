import { isMap, isPair, isScalar, isSeq, type Document, type Node, type Pair } from 'yaml';

/** A node found by path, with the key that leads to it (when it is a map value). */
export interface FoundNode {
  /** The node itself; undefined when the path ends at a missing key or an empty value. */
  node: Node | undefined;
  /** The key of the pair whose value is `node`, when the last step was a map key. */
  key: Node | undefined;
  /** The deepest node that exists on the path (the parent, when the last step is missing). */
  deepest: Node | undefined;
}

/** Splits an ajv instancePath (a JSON pointer) into its segments. */
export function pointerSegments(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** Finds the node at a path of map keys and sequence indexes in a parsed YAML document. */
export function findNode(doc: Document, segments: readonly (string | number)[]): FoundNode {
  let node: Node | undefined = (doc.contents ?? undefined) as Node | undefined;
  let key: Node | undefined;
  let deepest: Node | undefined = node;
  for (const seg of segments) {
    if (isMap(node)) {
      const pair = node.items.find((p: Pair) => isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) return { node: undefined, key: undefined, deepest };
      key = pair.key as Node;
      node = (pair.value ?? undefined) as Node | undefined;
      deepest = node ?? key;
    } else if (isSeq(node)) {
      const item = node.items[Number(seg)];
      key = undefined;
      node = (isPair(item) ? item.value : item) as Node | undefined;
      if (node) deepest = node;
      else return { node: undefined, key: undefined, deepest };
    } else {
      return { node: undefined, key: undefined, deepest };
    }
  }
  return { node, key, deepest };
}

/** Character offset where a node starts (0 when unknown). */
export function nodeOffset(node: Node | undefined): number {
  return node?.range?.[0] ?? 0;
}

/** Renders a path as `spec.profile.skip_setup_items[2]` for messages. */
export function dottedPath(segments: readonly (string | number)[]): string {
  let out = '';
  for (const s of segments) {
    if (typeof s === 'number' || /^\d+$/.test(s)) out += `[${s}]`;
    else out += out ? `.${s}` : s;
  }
  return out;
}
