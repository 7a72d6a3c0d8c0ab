/**
 * The API contract of the controller's HTTP server (issue 13 part 5): an OpenAPI 3.1 document of `/api/*`
 * (and the probes), served at `GET /api/openapi.json`. Its JSON Schemas are JSON Schema 2020-12; the plan
 * is schemas/plan.schema.json itself, embedded (with its own `$id`), so the API and `depctl plan --format
 * json` can never describe two different plans. test/integration/openapi-contract.test.ts drives every route
 * and validates each JSON answer against the schema of its status here.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { VERSION } from '../version.js';

type Json = Record<string, unknown>;

const ERROR_REF = { $ref: '#/components/schemas/Error' };
const json = (schema: Json, description: string): Json => ({ description, content: { 'application/json': { schema } } });
const error = (description: string): Json => json(ERROR_REF, description);
const text = (description: string): Json => ({ description, content: { 'text/plain': { schema: { type: 'string' } } } });
const BEARER = [{ bearer: [] }];

const ProblemList = { type: 'array', items: { type: 'string' }, description: 'Validation problems of the revision, `file:line:col: message`.' };

const planParams = [
  { name: 'ref', in: 'query', required: true, schema: { type: 'string', minLength: 1 }, description: 'A branch of the configured repository, `refs/pull/N/head`, `refs/merge-requests/N/head`, or a full commit id.' },
  { name: 'sha', in: 'query', required: false, schema: { type: 'string', pattern: '^[0-9a-fA-F]{40}([0-9a-fA-F]{24})?$' }, description: 'The commit to plan; must be among the last 50 commits of `ref`. Default: the tip of `ref`.' },
  { name: 'format', in: 'query', required: false, schema: { enum: ['json', 'markdown'], default: 'json' } },
];

const planResponses: Json = {
  '200': {
    description: 'The plan of the ref (nothing was written to the store or to Apple).',
    content: {
      'application/json': { schema: { $ref: '#/components/schemas/RemotePlan' } },
      'text/markdown': { schema: { type: 'string' } },
    },
  },
  '400': error('A missing or invalid ref, sha or format, or a body that is not JSON.'),
  '401': error('No or a wrong bearer token.'),
  '404': error('Remote plans are disabled (no API token configured), or the ref or commit is not in the configured repository.'),
  '413': error('The request body is larger than 16 KiB.'),
  '422': json({ allOf: [ERROR_REF, { type: 'object', properties: { problems: ProblemList } }] }, 'The revision fails validation; nothing was planned.'),
  '429': { ...error('Too many requests from this client, or a plan is already running for the repository.'), headers: { 'Retry-After': { schema: { type: 'integer', minimum: 1 }, description: 'Seconds to wait.' } } },
  '500': error('An unexpected error.'),
  '502': error('The repository could not be fetched.'),
  '503': error('The controller has no trusted revision yet (starting, or a follower replica).'),
  '504': error('The plan did not finish within its deadline and was cancelled.'),
};

/** Builds the document (the plan schema is read from schemas/ once). */
export function openApiDocument(): Json {
  const planSchema = JSON.parse(readFileSync(fileURLToPath(new URL('../../schemas/plan.schema.json', import.meta.url)), 'utf8')) as Json;
  delete planSchema['$schema'];
  return {
    openapi: '3.1.0',
    info: { title: 'depctl controller API', version: VERSION, description: 'Status, manual reconcile, plans of pull requests and probes of `depctl run`.' },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'The controller\'s API token (DEPCTL_API_TOKEN).' } },
      schemas: {
        Error: { type: 'object', required: ['error'], properties: { error: { type: 'string', minLength: 1 } } },
        Plan: planSchema,
        RemotePlan: {
          type: 'object',
          additionalProperties: false,
          required: ['ref', 'sha', 'trustedRevision', 'plan'],
          properties: {
            ref: { type: 'string', description: 'The ref as asked.' },
            sha: { type: 'string', pattern: '^[0-9a-f]{40}([0-9a-f]{24})?$', description: 'The commit planned.' },
            trustedRevision: { type: 'string', pattern: '^[0-9a-f]{40}([0-9a-f]{24})?$', description: 'The revision in force whose credentials and endpoints were used.' },
            plan: { $ref: '#/components/schemas/Plan' },
          },
        },
        Condition: {
          type: 'object',
          required: ['type', 'status', 'reason', 'message'],
          properties: { type: { type: 'string' }, status: { enum: ['True', 'False', 'Unknown'] }, reason: { type: 'string' }, message: { type: 'string' }, lastTransitionTime: { type: 'string' } },
        },
        Status: {
          type: 'object',
          description: 'The controller\'s status snapshot (the status page shows the same). Fields may be added.',
          required: ['phase', 'leader', 'conditions', 'lastAppliedRevision', 'lastAttemptedRevision', 'refusedRevision', 'nextRunAt', 'lastError', 'servers', 'recentRuns', 'version'],
          properties: {
            phase: { type: 'string' },
            leader: { type: 'boolean' },
            conditions: { type: 'array', items: { $ref: '#/components/schemas/Condition' } },
            lastAppliedRevision: { type: ['string', 'null'] },
            lastAttemptedRevision: { type: ['string', 'null'] },
            refusedRevision: { anyOf: [{ type: 'null' }, { type: 'object', required: ['revision', 'message'], properties: { revision: { type: 'string' }, message: { type: 'string' } } }] },
            nextRunAt: { type: ['string', 'null'] },
            lastError: { type: ['string', 'null'] },
            servers: { type: 'array', items: { type: 'object', required: ['name'], properties: { name: { type: 'string' } } } },
            recentRuns: { type: 'array', items: { type: 'object' } },
            organizations: {
              type: 'array',
              description: 'Device ownership per Organization (Apple Business/School API) after the last pass: state (converged, in-progress, partial, stopped, unknown), openActivities, movesInProgress, pendingMoves, unclaimed, devices (null: unknown), failedActivities, lastError, problem.',
              items: { type: 'object', required: ['name', 'state'], properties: { name: { type: 'string' }, state: { type: 'string' } } },
            },
            version: { type: 'string' },
          },
        },
      },
    },
    paths: {
      '/api/status': {
        get: {
          summary: 'The status snapshot (with a read token configured, it needs that token or the API token as a bearer)',
          responses: {
            '200': json({ $ref: '#/components/schemas/Status' }, 'The latest snapshot.'),
            '401': error('A read token is configured and none, or a wrong one, was sent.'),
            '405': error('Method not allowed.'),
            '413': error('A request body over the limit.'),
            '429': error('Too many failed authentication attempts from this address: see Retry-After.'),
          },
        },
      },
      '/api/reconcile': {
        post: {
          summary: 'Ask for a reconcile pass now',
          security: BEARER,
          responses: {
            '202': json({ type: 'object', required: ['triggered', 'reason'], properties: { triggered: { const: true }, reason: { const: 'manual' }, relayedTo: { const: 'leader' }, leader: { type: 'string' } } }, 'A pass was triggered here, or relayed to the leader replica.'),
            '503': json({ allOf: [ERROR_REF, { type: 'object', required: ['triggered'], properties: { triggered: { const: false }, reason: { const: 'manual' } } }] }, 'A follower replica could not hand the trigger to the leader; retry later.'),
            '401': error('No or a wrong bearer token.'),
            '404': error('Disabled: no API token is configured.'),
            '405': error('Method not allowed.'),
            '413': error('A request body over the limit (this route reads none).'),
            '429': error('Too many failed authentication attempts from this address: see Retry-After.'),
          },
        },
      },
      '/api/plan': {
        get: { summary: 'Plan an unmerged ref of the configured repository', security: BEARER, parameters: planParams, responses: { ...planResponses, '405': error('Method not allowed.') } },
        post: {
          summary: 'Plan an unmerged ref (parameters in a JSON body)',
          security: BEARER,
          requestBody: {
            required: false,
            content: { 'application/json': { schema: { type: 'object', properties: { ref: { type: 'string' }, sha: { type: 'string' }, format: { enum: ['json', 'markdown'] } } } } },
          },
          responses: planResponses,
        },
      },
      '/api/openapi.json': {
        get: { summary: 'This document', responses: { '200': json({ type: 'object', required: ['openapi', 'paths'] }, 'The OpenAPI document.'), '405': error('Method not allowed.') } },
      },
      '/healthz': { get: { summary: 'Liveness', responses: { '200': text('Live.'), '503': text('Not live, with the reason.') } } },
      '/readyz': { get: { summary: 'Readiness', responses: { '200': text('Ready.'), '503': text('Not ready, with the reason.') } } },
    },
  };
}
