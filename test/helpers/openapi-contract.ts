/**
 * Validates answers of the control server against its OpenAPI document (controller/server/openapi.ts): the
 * JSON Schema of the status and content type each answer has there, compiled with ajv (2020-12) and
 * ajv-formats. Shared by the unit contract test and the remote-plan integration test.
 */
import { createRequire } from 'node:module';
import type { Ajv2020 as Ajv2020Type } from 'ajv/dist/2020.js';
import { openApiDocument } from '../../controller/server/openapi.js';

const require = createRequire(import.meta.url);
const DOC_ID = 'https://depctl.invalid/openapi.json';

/** The document and a validator of one answer against it. */
export interface Contract {
  doc: Record<string, unknown>;
  /** Throws with ajv's errors when `body` does not match the schema of (path, method, status, JSON). */
  check(path: string, method: 'get' | 'post', status: number, body: unknown): void;
  /** The (path, method, status) triples the document declares. */
  declared(): string[];
}

function pointer(...parts: string[]): string {
  return parts.map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');
}

/** Builds the contract from the document the server serves. */
export function loadContract(doc: Record<string, unknown> = openApiDocument()): Contract {
  const { Ajv2020 } = require('ajv/dist/2020.js') as { Ajv2020: new (o: object) => Ajv2020Type };
  const formats = require('ajv-formats') as ((ajv: Ajv2020Type) => void) & { default?: (ajv: Ajv2020Type) => void };
  // strict: false because the OpenAPI keywords around the schemas (openapi, paths, ...) are not JSON Schema.
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  (formats.default ?? formats)(ajv);
  ajv.addSchema({ ...doc, $id: DOC_ID });
  const paths = doc['paths'] as Record<string, Record<string, { responses: Record<string, { content?: Record<string, unknown> }> }>>;
  return {
    doc,
    check(path, method, status, body) {
      const op = paths[path]?.[method];
      // A method the path does not have: the server's generic 405 (or 404 for an unknown path), an Error.
      if (!op && ((paths[path] && status === 405) || (!paths[path] && status === 404))) {
        const validate = ajv.getSchema(`${DOC_ID}#/components/schemas/Error`) as NonNullable<ReturnType<typeof ajv.getSchema>>;
        if (!validate(body)) throw new Error(`${method.toUpperCase()} ${path} ${status}: ${ajv.errorsText(validate.errors)}`);
        return;
      }
      if (!op) throw new Error(`${method.toUpperCase()} ${path} is not in the OpenAPI document`);
      const response = op.responses[String(status)];
      if (!response) throw new Error(`${method.toUpperCase()} ${path} answered ${status}, which the OpenAPI document does not declare`);
      if (!response.content?.['application/json']) throw new Error(`${method.toUpperCase()} ${path} ${status} has no JSON content in the document`);
      const ref = `${DOC_ID}#/${pointer('paths', path, method, 'responses', String(status), 'content', 'application/json', 'schema')}`;
      const validate = ajv.getSchema(ref) ?? ajv.compile({ $ref: ref });
      if (!validate(body)) throw new Error(`${method.toUpperCase()} ${path} ${status}: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(body).slice(0, 500)}`);
    },
    declared() {
      return Object.entries(paths).flatMap(([p, ops]) => Object.entries(ops).flatMap(([m, op]) => Object.keys(op.responses).map((s) => `${m.toUpperCase()} ${p} ${s}`)));
    },
  };
}
