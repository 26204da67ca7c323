import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { GraphQLError, Kind, parse, validate, type GraphQLSchema } from 'graphql';
import type { Session } from '../auth/session';
import { projectRoot } from '../paths';

/**
 * The desktop app's trusted operations (R9): the manifest the build makes of
 * clients/desktop/operations/*.graphql, requests that name one of them by hash (`documentId` or
 * Apollo's `extensions.persistedQuery`), and the rule that DESKTOP tokens run nothing else (R9.3).
 * Nothing is registered at run time: every instance knows the same manifest from the build, and
 * Apollo's own automatic persisted queries are off.
 */

/** GraphQL error codes of persisted operations (`extensions.code`). */
export const PERSISTED_QUERY_REQUIRED = 'PERSISTED_QUERY_REQUIRED';
export const PERSISTED_QUERY_NOT_FOUND = 'PERSISTED_QUERY_NOT_FOUND';
/** `reason` of the BAD_REQUEST answered when a request's hash is not the SHA-256 of the query it sends. */
export const PERSISTED_QUERY_HASH_MISMATCH = 'PERSISTED_QUERY_HASH_MISMATCH';

export interface ManifestOperation {
  /** Lowercase hex SHA-256 of `body`. */
  id: string;
  name: string;
  type: 'query' | 'mutation' | 'subscription';
  /** The operation and the fragments it uses, printed canonically. */
  body: string;
}

/** Where the build writes the manifest, found from source (ts-jest) and from dist alike. */
export function manifestPath(): string {
  return path.join(projectRoot(), 'clients', 'desktop', 'persisted-operations.json');
}

function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The manifest's operations by id. */
export class PersistedOperations {
  private readonly byId = new Map<string, ManifestOperation>();

  constructor(operations: ManifestOperation[]) {
    for (const op of operations) this.byId.set(op.id, op);
  }

  /**
   * The manifest at `file`, checked: Apollo's format, each id the SHA-256 of its body, each body one
   * operation of its name and type, valid against `schema` when given. Anything else is an error
   * that says what to do, so that a server never starts with a missing or stale manifest.
   */
  static load(file: string = manifestPath(), schema?: GraphQLSchema): PersistedOperations {
    const rebuild = 'it is made by `npm run build` (npm run codegen) from clients/desktop/operations/*.graphql';
    let raw: string;
    try {
      raw = fs.readFileSync(file, 'utf8');
    } catch (err) {
      throw new Error(`The desktop operations manifest ${file} cannot be read (${(err as Error).message}): ${rebuild}.`);
    }
    const bad = (why: string) => new Error(`The desktop operations manifest ${file} is not usable: ${why}; ${rebuild}.`);
    let manifest: unknown;
    try {
      manifest = JSON.parse(raw);
    } catch (err) {
      throw bad(`not JSON (${(err as Error).message})`);
    }
    if (!isRecord(manifest) || manifest.format !== 'apollo-persisted-query-manifest' || manifest.version !== 1 || !Array.isArray(manifest.operations)) {
      throw bad('not an apollo-persisted-query-manifest of version 1');
    }
    const operations: ManifestOperation[] = [];
    for (const entry of manifest.operations as unknown[]) {
      if (!isRecord(entry) || typeof entry.id !== 'string' || typeof entry.name !== 'string' || typeof entry.body !== 'string') {
        throw bad('an operation without a string id, name and body');
      }
      const { id, name, body, type } = entry;
      if (type !== 'query' && type !== 'mutation' && type !== 'subscription') throw bad(`${name} has the type ${String(type)}`);
      if (id !== sha256Hex(body)) throw bad(`the id of ${name} is not the SHA-256 of its body`);
      let document;
      try {
        document = parse(body);
      } catch (err) {
        throw bad(`the body of ${name} does not parse (${(err as Error).message})`);
      }
      const ops = document.definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION);
      if (ops.length !== 1 || ops[0].name?.value !== name || (ops[0].operation as string) !== type)
        throw bad(`the body of ${name} is not one ${type} named ${name}`);
      if (schema) {
        const errors = validate(schema, document);
        if (errors.length > 0) throw bad(`${name} does not validate against the schema (${errors.map((e) => e.message).join('; ')})`);
      }
      operations.push({ id, name, type, body });
    }
    return new PersistedOperations(operations);
  }

  get(id: string): ManifestOperation | undefined {
    return this.byId.get(id);
  }

  get size(): number {
    return this.byId.size;
  }

  operations(): ManifestOperation[] {
    return [...this.byId.values()];
  }
}

/** Whether a session's token is a desktop app's (R9.3: it runs only manifest operations). */
export function isDesktopSession(session: Session): boolean {
  return session.principal.kind === 'account' && session.principal.client === 'DESKTOP';
}

/** What a request sends that bears on persisted operations, whatever its transport. */
export interface PersistedFields {
  query?: unknown;
  documentId?: unknown;
  extensions?: unknown;
}

export interface PersistedRefusal {
  code: string;
  message: string;
  reason?: string;
}

/**
 * What to do with a request:
 * - `run`: a manifest operation, named by its hash (any client): run `operation.body`;
 * - `text`: a document sent as text (with a correct hash of a document not in the manifest, or
 *   none): run it, unless the caller is a desktop app;
 * - `pass`: neither a document nor a hash: whatever answers requests without a query answers it;
 * - `refuse`: a request error, the same for every caller.
 */
export type PersistedPlan =
  { kind: 'run'; operation: ManifestOperation } | { kind: 'text'; query: string } | { kind: 'pass' } | { kind: 'refuse'; refusal: PersistedRefusal };

const badRequest = (message: string, reason?: string): PersistedPlan => ({
  kind: 'refuse',
  refusal: { code: 'BAD_REQUEST', message, ...(reason ? { reason } : {}) },
});

/** The refusal of a document sent as text by a desktop app (R9.3). */
export const persistedQueryRequired: PersistedRefusal = {
  code: PERSISTED_QUERY_REQUIRED,
  message:
    'This client runs only the desktop operations of the manifest: name one by its hash (`documentId: "sha256:<id>"` or `extensions.persistedQuery.sha256Hash`) instead of sending a document.',
};

const notFound: PersistedPlan = {
  kind: 'refuse',
  refusal: { code: PERSISTED_QUERY_NOT_FOUND, message: 'PersistedQueryNotFound: no operation of the manifest has this hash.' },
};

export function planPersisted(manifest: PersistedOperations, fields: PersistedFields): PersistedPlan {
  let hash: string | undefined;
  if (fields.documentId !== undefined && fields.documentId !== null) {
    if (typeof fields.documentId !== 'string') return badRequest('`documentId` must be a string: "sha256:" and the operation\'s lowercase hex SHA-256.');
    const match = /^sha256:([0-9a-f]{64})$/i.exec(fields.documentId);
    // Another kind of identifier names no document this server knows.
    if (!match) return notFound;
    hash = match[1].toLowerCase();
  }
  const persistedQuery = isRecord(fields.extensions) ? fields.extensions.persistedQuery : undefined;
  if (persistedQuery !== undefined && persistedQuery !== null) {
    if (!isRecord(persistedQuery) || persistedQuery.version !== 1) return badRequest('Unsupported persisted query version: only `version: 1` is.');
    if (typeof persistedQuery.sha256Hash !== 'string') return badRequest('`extensions.persistedQuery.sha256Hash` must be a string.');
    const named = persistedQuery.sha256Hash.toLowerCase();
    if (hash !== undefined && hash !== named) return badRequest('`documentId` and `extensions.persistedQuery.sha256Hash` name different documents.');
    hash = named;
  }
  // A request that names a document may leave `query` out, null or empty (graphql-ws clients must send a string).
  const query = fields.query === undefined || fields.query === null || (hash !== undefined && fields.query === '') ? undefined : fields.query;
  if (hash === undefined) return typeof query === 'string' ? { kind: 'text', query } : { kind: 'pass' };
  if (query === undefined) {
    const operation = manifest.get(hash);
    return operation ? { kind: 'run', operation } : notFound;
  }
  if (typeof query !== 'string') return badRequest('`query` must be a string.');
  if (sha256Hex(query) !== hash) {
    return badRequest('The hash does not match the query: send the SHA-256 (lowercase hex) of the exact query text.', PERSISTED_QUERY_HASH_MISMATCH);
  }
  const operation = manifest.get(hash);
  // A correct hash of a document outside the manifest registers nothing: it runs as the document it is.
  return operation ? { kind: 'run', operation } : { kind: 'text', query };
}

/**
 * graphql-ws closes the socket (4400) on a subscribe message whose payload has no string `query`, before
 * any hook sees it: one that names a document by hash gets `query: ''` while its JSON is parsed, which
 * `planPersisted` reads as absent. (graphql-ws's `jsonMessageReviver`.)
 */
export function wsMessageReviver(key: string, value: unknown): unknown {
  if (key !== '' || !isRecord(value) || value.type !== 'subscribe' || !isRecord(value.payload)) return value;
  const payload = value.payload;
  const names =
    (payload.documentId !== undefined && payload.documentId !== null) || (isRecord(payload.extensions) && payload.extensions.persistedQuery != null);
  if (!names || (payload.query !== undefined && payload.query !== null)) return value;
  return { ...value, payload: { ...payload, query: '' } };
}

/** A refusal as the GraphQL error of a WebSocket operation. */
export function wsError(refusal: PersistedRefusal): GraphQLError {
  return new GraphQLError(refusal.message, { extensions: { code: refusal.code, ...(refusal.reason ? { reason: refusal.reason } : {}) } });
}

export interface PersistedMiddlewareOptions {
  /** Whether the request is a desktop app's; asked only for documents sent as text. */
  isDesktop(req: Request, res: Response): Promise<boolean>;
  /** Answers a refusal as a request error (HTTP 400, or 200 for clients that accept application/json only). */
  refuse(req: Request, res: Response, refusal: PersistedRefusal): void;
}

/**
 * Before Apollo's handler on /graphql (after the JSON body parser): a POST body or GET query string
 * that names a manifest operation gets its body as `query`, without `documentId` and
 * `extensions.persistedQuery`, so that Apollo parses, validates (depth, cost, aliases, tokens) and runs
 * it like any document; a desktop app's document sent as text, an unknown hash or a hash that does not
 * match its query is refused here.
 */
export function persistedMiddleware(manifest: PersistedOperations, options: PersistedMiddlewareOptions): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const handle = async () => {
      if (req.method === 'POST') {
        const body: unknown = req.body;
        if (!isRecord(body)) return next();
        const plan = planPersisted(manifest, body);
        if (plan.kind === 'refuse') return options.refuse(req, res, plan.refusal);
        if (plan.kind === 'text' && (await options.isDesktop(req, res))) return options.refuse(req, res, persistedQueryRequired);
        if (plan.kind === 'pass' || (plan.kind === 'text' && body.documentId === undefined && !hasPersistedQuery(body.extensions))) return next();
        req.body = rewritten(body, plan.kind === 'run' ? plan.operation.body : plan.query);
        return next();
      }
      if (req.method === 'GET' || req.method === 'HEAD') {
        const at = req.url.indexOf('?');
        const params = new URLSearchParams(at < 0 ? '' : req.url.slice(at + 1));
        let extensions: unknown;
        const extensionsText = params.getAll('extensions');
        if (extensionsText.length === 1) {
          try {
            extensions = JSON.parse(extensionsText[0]);
          } catch {
            return next(); // Apollo says what is wrong with it
          }
        }
        const queries = params.getAll('query');
        const documentIds = params.getAll('documentId');
        if (queries.length > 1 || documentIds.length > 1) return next(); // Apollo refuses repeated parameters
        const plan = planPersisted(manifest, { query: queries[0], documentId: documentIds[0], extensions });
        if (plan.kind === 'refuse') return options.refuse(req, res, plan.refusal);
        if (plan.kind === 'text' && (await options.isDesktop(req, res))) return options.refuse(req, res, persistedQueryRequired);
        if (plan.kind === 'pass' || (plan.kind === 'text' && documentIds.length === 0 && !hasPersistedQuery(extensions))) return next();
        params.set('query', plan.kind === 'run' ? plan.operation.body : plan.query);
        params.delete('documentId');
        if (isRecord(extensions)) {
          const rest = withoutPersistedQuery(extensions);
          if (Object.keys(rest).length > 0) params.set('extensions', JSON.stringify(rest));
          else params.delete('extensions');
        }
        req.url = `${at < 0 ? req.url : req.url.slice(0, at)}?${params.toString()}`;
        return next();
      }
      next();
    };
    handle().catch(next);
  };
}

function hasPersistedQuery(extensions: unknown): boolean {
  return isRecord(extensions) && extensions.persistedQuery !== undefined && extensions.persistedQuery !== null;
}

function withoutPersistedQuery(extensions: Record<string, unknown>): Record<string, unknown> {
  const rest = { ...extensions };
  delete rest.persistedQuery;
  return rest;
}

/** The body with `query` and without what named it (Apollo, with its own persisted queries off, would refuse those). */
function rewritten(body: Record<string, unknown>, query: string): Record<string, unknown> {
  const out: Record<string, unknown> = { ...body, query };
  delete out.documentId;
  if (isRecord(body.extensions)) out.extensions = withoutPersistedQuery(body.extensions);
  return out;
}
