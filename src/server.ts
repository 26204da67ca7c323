import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import { expressMiddleware } from '@as-integrations/express5';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { makeExecutableSchema } from '@graphql-tools/schema';
import type { IResolvers } from '@graphql-tools/utils';
import { ApolloArmor } from '@escape.tech/graphql-armor';
import cors from 'cors';
import express, { type NextFunction, type Request, type Response } from 'express';
import { DateTimeResolver, EmailAddressResolver } from 'graphql-scalars';
import { useServer } from 'graphql-ws/use/ws';
import {
  GraphQLError,
  NoSchemaIntrospectionCustomRule,
  OperationTypeNode,
  getOperationAST,
  parse,
  specifiedRules,
  validate,
  type DocumentNode,
  type GraphQLSchema,
  type ValidationContext,
} from 'graphql';
import type { DataSource } from 'typeorm';
import { WebSocketServer, type WebSocket } from 'ws';
import { ConfigError, type Config } from './config';
import { accountResolvers } from './modules/accounts/resolvers';
import { systemResolvers } from './modules/system/resolvers';
import { licenseResolvers } from './modules/licenses/resolvers';
import { organizationResolvers } from './modules/organizations/resolvers';
import { seatResolvers } from './modules/seats/resolvers';
import { trialResolvers } from './modules/trials/resolvers';
import { offlineResolvers } from './modules/offline/resolvers';
import { liveResolvers } from './modules/live/resolvers';
import { waitlistResolvers } from './modules/seats/waitlist-resolvers';
import { supportResolvers } from './modules/support/resolvers';
import { pageRoutes } from './modules/pages/routes';
import { resolveAppSecret } from './platform/app-secret';
import { Session } from './platform/auth/session';
import { parse as parseCookies } from 'cookie';
import { DEVICE_COOKIE, KNOWN_CLIENT_MS } from './modules/accounts/known-clients';
import { Clock } from './platform/clock';
import type { Context, HttpExchange } from './platform/context';
import { keyedHash, safeEqual } from './platform/crypto';
import { createDataSource, databaseUrlOf, migrate, pendingMigrations, poolOf, probeDatabase } from './platform/db/data-source';
import { observeRetries } from './platform/db/transaction';
import { ensureEmbeddedPostgres, freePort, type EmbeddedPostgres } from './platform/db/embedded';
import { rootFields, Metrics } from './platform/metrics';
import { internalError, wrapResolvers } from './platform/graphql/wrap';
import {
  PersistedOperations,
  isDesktopSession,
  persistedMiddleware,
  persistedQueryRequired,
  planPersisted,
  wsError,
  wsMessageReviver,
  type PersistedRefusal,
} from './platform/graphql/persisted';
import { negotiateLanguage } from './platform/i18n';
import { JOB_LOCKS, Jobs } from './platform/jobs';
import { createLogger, type Logger } from './platform/logger';
import { Mailer, MailTransport } from './platform/mail/mailer';
import { MailOutbox } from './platform/mail/outbox';
import { jwksHandler } from './modules/entitlements/service';
import { NO_WEBHOOKS } from './platform/webhooks/events';
import { WebhookOutbox } from './platform/webhooks/outbox';
import { RATE_LIMIT_TABLE, RateLimits } from './platform/rate-limit';
import { Events, LocalEventBus, RedisEventBus, type EventBus } from './platform/events';
import { addressKey } from './platform/net';
import { projectRoot } from './platform/paths';
import { createLoaders, createServices, type Services } from './services';
import type { Resolvers } from './generated/graphql';

const MAX_TOKENS = 2000;
/**
 * The deepest nesting of `{ [ (` a document may have. The token limit alone still lets a list
 * argument nest deep enough to exhaust graphql-js's recursive parser ("Maximum call stack size
 * exceeded"); this is refused first, as a parse error.
 */
export const MAX_NESTING = 64;

/** How deep a document's brackets nest, strings and comments skipped (a linear scan, no parsing). */
export function nestingDepth(document: string): number {
  let depth = 0;
  let deepest = 0;
  for (let i = 0; i < document.length; i++) {
    const c = document[i];
    if (c === '#') {
      while (i < document.length && document[i] !== '\n' && document[i] !== '\r') i++;
    } else if (c === '"') {
      if (document.startsWith('"""', i)) {
        // A block string ends at the first `"""` not escaped as `\"""`.
        for (i += 3; i < document.length && !document.startsWith('"""', i); i++) if (document.startsWith('\\"""', i)) i += 3;
        i += 2;
      } else {
        for (i++; i < document.length && document[i] !== '"' && document[i] !== '\n'; i++) if (document[i] === '\\') i++;
      }
    } else if (c === '{' || c === '[' || c === '(') {
      depth++;
      if (depth > deepest) deepest = depth;
    } else if (c === '}' || c === ']' || c === ')') depth = Math.max(0, depth - 1);
  }
  return deepest;
}

function tooDeep(): GraphQLError {
  return new GraphQLError(`Syntax Error: the document nests deeper than ${MAX_NESTING} levels.`, { extensions: { code: 'GRAPHQL_PARSE_FAILED' } });
}

/** `/readyz` says 503 when the database has not answered within this long. */
const READY_DB_MS = 2_000;

/** `work()`, or a rejection once `ms` have passed without its answer. */
async function within<T>(ms: number, work: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export interface RunningServer {
  url: string;
  port: number;
  config: Config;
  services: Services;
  clock: Clock;
  ds: DataSource;
  mailer: Mailer;
  /** The durable mail outbox and its worker (tests stop it to leave delivery to another instance). */
  outbox: MailOutbox;
  /** The webhook outbox and its worker (R7.4), when WEBHOOK_URL is set; `drain()` for tests. */
  webhooks?: WebhookOutbox;
  logger: Logger;
  jobs: Jobs;
  /**
   * Graceful: stop accepting, finish requests, close sockets, stop jobs and mail, close the
   * database. With `force`, open connections are cut instead of awaited (the shutdown deadline).
   */
  stop(force?: boolean): Promise<void>;
}

export function loadTypeDefs(): string[] {
  const dir = path.join(projectRoot(), 'schema');
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.graphql'))
    .sort()
    .map((f) => fs.readFileSync(path.join(dir, f), 'utf8'));
}

function mergeResolvers(...maps: Resolvers[]): Resolvers {
  const out: Record<string, Record<string, unknown>> = {};
  for (const map of maps) {
    for (const [type, fields] of Object.entries(map)) out[type] = { ...(out[type] ?? {}), ...(fields as Record<string, unknown>) };
  }
  return out;
}

/** The most a query may cost (armor's cost limit, see `costLimit` below). */
export const MAX_COST = 5000;

/** Armor's cost refusal, said plainly: a validation error with the figures, never a "Syntax Error". */
function costError(err: GraphQLError): GraphQLError {
  const found = /found ([\d.]+)/.exec(err.message);
  const cost = found ? Math.ceil(Number(found[1])) : undefined;
  const costs = cost === undefined ? `more than ${MAX_COST}` : `${cost}, more than the ${MAX_COST} allowed`;
  return new GraphQLError(`The query costs ${costs}: ask for fewer fields or smaller pages.`, {
    extensions: { code: 'GRAPHQL_VALIDATION_FAILED', reason: 'QUERY_COST', cost, maxCost: MAX_COST },
  });
}

export function buildSchema(): GraphQLSchema {
  return makeExecutableSchema({
    typeDefs: loadTypeDefs(),
    resolvers: [
      { DateTime: DateTimeResolver, EmailAddress: EmailAddressResolver },
      wrapResolvers(
        mergeResolvers(
          accountResolvers,
          licenseResolvers,
          organizationResolvers,
          seatResolvers,
          trialResolvers,
          offlineResolvers,
          liveResolvers,
          waitlistResolvers,
          supportResolvers,
          systemResolvers,
        ) as Record<string, unknown>,
      ) as IResolvers,
    ],
  });
}

/**
 * The mail outbox on this database and its transport: `work` for a server (it delivers), not for a
 * one-off command (it only queues; a server delivers). Not started yet.
 */
export function mailOutboxFor(
  config: Config,
  ds: DataSource,
  appSecret: string,
  logger: Logger,
  work: boolean,
): { transport: MailTransport; outbox: MailOutbox } {
  // In production the links in mail files are not logged: they are live credentials.
  const transport = new MailTransport(
    { smtpUrl: config.smtpUrl, from: config.mailFrom, mailDir: path.join(config.dataDir, 'mail'), logLinks: !config.production },
    logger,
  );
  const outbox = new MailOutbox({
    databaseUrl: databaseUrlOf(ds),
    appSecret,
    transport,
    logger,
    domain: transport.domain,
    work,
    connectTimeoutMs: config.dbTimeouts.connectMs,
    statementTimeoutMs: config.dbTimeouts.statementMs,
    lockTimeoutMs: config.dbTimeouts.lockMs,
    query: (sql, params) => ds.query(sql, params),
  });
  return { transport, outbox };
}

/**
 * The webhook outbox on this database (R7.4), or undefined without WEBHOOK_URL (events are then not
 * queued at all): `work` for a server (it delivers), not for a one-off command (it only queues; a
 * server delivers). `clock` stamps the events (the server's, which a test can move). Not started yet.
 */
export function webhookOutboxFor(config: Config, ds: DataSource, clock: Clock, logger: Logger, work: boolean): WebhookOutbox | undefined {
  if (!config.webhookUrl || !config.webhookSecret) return undefined;
  return new WebhookOutbox({
    databaseUrl: databaseUrlOf(ds),
    url: config.webhookUrl,
    secret: config.webhookSecret,
    clock,
    logger,
    work,
    connectTimeoutMs: config.dbTimeouts.connectMs,
    statementTimeoutMs: config.dbTimeouts.statementMs,
    lockTimeoutMs: config.dbTimeouts.lockMs,
    query: (sql, params) => ds.query(sql, params),
  });
}

/** Database of this instance: DATABASE_URL, or the embedded server under DATA_DIR/postgres. */
export async function openDatabase(config: Config, logger: Logger): Promise<{ ds: DataSource; embedded?: EmbeddedPostgres }> {
  let embedded: EmbeddedPostgres | undefined;
  let url = config.databaseUrl;
  if (!url) {
    embedded = await ensureEmbeddedPostgres(config.dataDir, logger);
    url = embedded.url;
  }
  const ds = createDataSource(url, config.dbPoolSize, config.dbTimeouts);
  try {
    await ds.initialize();
  } catch (err) {
    await embedded?.stop();
    throw config.databaseUrl ? databaseUrlProblem(config.databaseUrl, err) : err;
  }
  return { ds, embedded };
}

/** A failed first connection to DATABASE_URL, said with the setting's name and where it points (never its password). */
function databaseUrlProblem(databaseUrl: string, err: unknown): Error {
  const e = err as { code?: string; message?: string; errors?: Array<{ code?: string }> };
  let where = 'the database';
  let database = '';
  try {
    const url = new URL(databaseUrl);
    const host = url.hostname || url.searchParams.get('host') || 'localhost';
    where = `${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${url.port || '5432'}`;
    database = decodeURIComponent(url.pathname.slice(1));
  } catch {
    // config.ts refuses what is not a URL; the message says less then, nothing wrong.
  }
  const code = e.code ?? e.errors?.find((x) => x.code)?.code;
  const message = String(e.message ?? err);
  let problem: string;
  if (code === '28P01' || code === '28000') problem = `${where} refused the login (${message})`;
  else if (code === '3D000') problem = `database "${database}" does not exist on ${where}`;
  else if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') problem = `cannot resolve the host of ${where} (${code})`;
  else if (code && /^E[A-Z]+$/.test(code)) problem = `cannot connect to ${where} (${code})`;
  else if (/timeout/i.test(message)) problem = `cannot connect to ${where} (no answer within DB_CONNECT_TIMEOUT_MS)`;
  else problem = `cannot connect to ${where} (${message})`;
  return new ConfigError(`DATABASE_URL: ${problem}`, undefined, { cause: err });
}

/** Why the server cannot listen on HOST:PORT, naming the setting; other errors as they are. */
function listenProblem(config: Config, err: unknown): Error {
  const code = (err as { code?: string }).code;
  const at = `PORT ${config.port} on ${config.host}`;
  const problem =
    code === 'EADDRINUSE'
      ? `${at} is already in use (another Tessera, or another program, listens there): stop it or set PORT to a free port`
      : code === 'EACCES'
        ? `${at}: permission denied (ports below 1024 need privileges): set PORT to 1024 or above`
        : code === 'EADDRNOTAVAIL'
          ? `HOST ${config.host} is not an address of this machine (PORT ${config.port}): use 127.0.0.1, 0.0.0.0 or one of its addresses`
          : code === 'ENOTFOUND' || code === 'EAI_AGAIN'
            ? `HOST ${config.host} cannot be resolved (${code})`
            : undefined;
  return problem ? new ConfigError(problem, undefined, { cause: err }) : (err as Error);
}

/** Fails early (before the database is opened) when HOST:PORT cannot be listened on; it is free again afterwards. */
async function checkListen(config: Config): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const probe = net.createServer();
    probe.unref();
    probe.once('error', (err) => reject(listenProblem(config, err)));
    probe.listen(config.port, config.host, () => probe.close(() => resolve()));
  });
}

export async function startServer(requested: Config, options: { logger?: Logger } = {}): Promise<RunningServer> {
  const logger = options.logger ?? createLogger(requested.logLevel);
  // PORT=0: pick the port now, so that links in emails (PUBLIC_URL's default) carry the real one.
  let config = requested;
  if (config.port === 0) {
    const port = await freePort(config.host).catch((err: unknown) => Promise.reject(listenProblem(config, err)));
    config = { ...config, port, publicUrl: config.publicUrlExplicit ? config.publicUrl : `http://localhost:${port}` };
  } else await checkListen(config);
  const { ds, embedded } = await openDatabase(config, logger);
  // Whatever is started before a failure is stopped again, newest first, so that a failed start
  // leaves no database, connection or timer behind.
  const undo: Array<() => Promise<unknown>> = [() => ds.destroy(), async () => embedded?.stop()];
  try {
    return await assemble(config, logger, ds, embedded, undo);
  } catch (err) {
    for (const step of undo.reverse()) await step().catch(() => undefined);
    throw err;
  }
}

async function assemble(
  config: Config,
  logger: Logger,
  ds: DataSource,
  embedded: EmbeddedPostgres | undefined,
  undo: Array<() => Promise<unknown>>,
): Promise<RunningServer> {
  await migrate(ds, logger);
  const appSecret = resolveAppSecret(config.appSecret, config.dataDir, logger);
  const clock = new Clock(config.testClock);
  if (config.testClock) logger.warn("TEST_CLOCK=1: advanceTestClock can move this server's time");
  const { transport, outbox } = mailOutboxFor(config, ds, appSecret, logger, true);
  undo.push(async () => transport.close());
  await outbox.start();
  undo.push(() => outbox.stop());
  const mailer = new Mailer(outbox);
  const webhooks = webhookOutboxFor(config, ds, clock, logger, true);
  if (webhooks) {
    await webhooks.start();
    undo.push(() => webhooks.stop());
  }
  if (config.production && !config.smtpUrl) logger.warn('NODE_ENV=production without SMTP_URL: mail is only written to DATA_DIR/mail');
  const rateLimits = new RateLimits(poolOf(ds), config.rateLimitFactor);
  let bus: EventBus;
  if (config.redisUrl) {
    const redis = new RedisEventBus(config.redisUrl, logger);
    undo.push(() => redis.close());
    await redis.ready();
    bus = redis;
  } else bus = new LocalEventBus();
  const events = new Events(bus);
  undo.push(() => events.close());
  const services = createServices({ config, ds, clock, mailer, logger, rateLimits, appSecret, events, webhooks: webhooks ?? NO_WEBHOOKS });
  const metrics = new Metrics({
    pool: () => poolOf(ds),
    licensesOverCapacity: () => services.seats.licensesOverCapacity(),
    outbox: () => outbox.stats(),
    webhooks: webhooks && (() => webhooks.stats()),
    leasesInUse: () => services.seats.leasesInUse(),
  });
  services.seats.onAcquireRefused = (code) => metrics.seatRefusals.inc({ code });
  outbox.onDelivered = async (mail) => {
    metrics.mailDelivered.inc({ kind: mail.kind });
    if (mail.reminder) {
      await ds.query('UPDATE license_reminders SET delivered_at = $3 WHERE license_id = $1 AND days_before = $2', [
        mail.reminder.licenseId,
        mail.reminder.daysBefore,
        clock.now(),
      ]);
    }
  };
  outbox.onFailedAttempt = (mail) => metrics.mailAttemptsFailed.inc({ kind: mail.kind });
  if (webhooks) {
    webhooks.onDelivered = (type) => metrics.webhookDelivered.inc({ type });
    webhooks.onFailedAttempt = (type) => metrics.webhookAttemptsFailed.inc({ type });
  }
  observeRetries(ds, (reason) => metrics.dbRetries.inc({ reason }));
  const jobs = new Jobs(ds, logger, config.runJobs);
  undo.push(() => jobs.stop());
  jobs.onRound = (job, outcome) => metrics.jobRounds.inc({ job, outcome });
  jobs.every('prune-login-throttle', JOB_LOCKS.pruneLoginThrottle, 10 * 60_000, () => services.accounts.pruneLoginThrottle());
  jobs.every('sweep-lapsed-seats', JOB_LOCKS.sweepLapsedSeats, 1_000, () => services.seats.sweepLapsed());
  // Licenses end by the clock, not by a transaction: tell their pools' subscribers when one has.
  let expiryCheckedUntil = clock.now();
  jobs.every('license-expiry-events', JOB_LOCKS.licenseExpiryEvents, 1_000, async () => {
    const until = clock.now();
    const rows = await ds.query<Array<{ owner_account_id: string }>>(
      'SELECT DISTINCT owner_account_id FROM licenses WHERE owner_account_id IS NOT NULL AND expires_at > $1 AND expires_at <= $2',
      [expiryCheckedUntil, until],
    );
    expiryCheckedUntil = until;
    for (const r of rows) events.poolChanged(r.owner_account_id);
    return rows.length;
  });
  // Holds run out by the clock: the line moves on at the next round (and at every pool change).
  jobs.every('waitlist', JOB_LOCKS.waitlist, 15_000, () => services.waitlist.promoteAll());
  jobs.every('expiry-reminders', JOB_LOCKS.expiryReminders, 15 * 60_000, () => services.licenses.sendExpiryReminders());
  jobs.every('prune-rate-limits', JOB_LOCKS.pruneRateLimits, 10 * 60_000, () =>
    ds.query(`DELETE FROM ${RATE_LIMIT_TABLE} WHERE expire IS NOT NULL AND expire < $1`, [Date.now()]),
  );

  let ready = false;
  let stopping = false;

  async function contextFor(
    authorization: string | undefined,
    acceptLanguage: string | undefined,
    ip: string | undefined,
    requestLogger: Logger = logger,
    http?: HttpExchange,
  ): Promise<Context> {
    let session = services.accounts.sessionFor({ kind: 'anonymous' }, { memoize: http !== undefined });
    const requestLang = negotiateLanguage(acceptLanguage);
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (match) {
      const raw = match[1];
      if (config.shopApiToken && safeEqual(raw, config.shopApiToken)) session = new Session({ kind: 'shop' });
      else {
        let found: Session | undefined;
        try {
          // HTTP requests remember organization standings for their own decisions; a WebSocket
          // operation lives long and decides afresh each time.
          found = await services.accounts.sessionOf(raw, { memoize: http !== undefined });
        } catch (err) {
          // Outside any resolver: said the same way (generic, localized), and 503 when the database is away.
          const error = internalError(err, requestLogger, requestLang ?? 'EN');
          throw new GraphQLError(error.message, {
            extensions: { ...error.extensions, http: { status: error.extensions.reason === 'DATABASE_UNAVAILABLE' ? 503 : 500 } },
          });
        }
        if (found) session = found;
      }
    }
    return {
      session,
      bearer: match?.[1],
      lang: requestLang ?? session.account?.language ?? 'EN',
      ipHash: keyedHash(appSecret, 'ip', addressKey(ip ?? 'unknown')),
      loaders: createLoaders(services),
      services,
      logger: requestLogger,
      http,
    };
  }

  /** The cookies a GraphQL request over HTTP may read and set (R1.6's device cookie only). */
  const httpExchange = (req: Request, res: Response): HttpExchange => ({
    deviceCookie: parseCookies(req.headers.cookie ?? '')[DEVICE_COOKIE],
    setDeviceCookie: (value) =>
      res.cookie(DEVICE_COOKIE, value, {
        httpOnly: true,
        sameSite: 'strict',
        secure: config.publicUrl.startsWith('https:'),
        maxAge: KNOWN_CLIENT_MS,
        path: '/',
      }),
  });

  const app = express();
  app.disable('x-powered-by');
  if (config.trustProxyHops > 0) app.set('trust proxy', config.trustProxyHops);
  const httpServer = http.createServer(app);
  const schema = buildSchema();
  // The desktop app's operations (R9), from the build: no manifest, or one the schema refuses, no start.
  const persisted = PersistedOperations.load(undefined, schema);

  const armor = new ApolloArmor({
    maxAliases: { n: 15 },
    maxDepth: { n: 12 },
    // Cost counts the fields a query resolves, times the page size it asks for (`first`): a
    // depth factor of 1, not armor's default 1.5, because depth is capped on its own (maxDepth)
    // and nested fields are served by per-request loaders, so a deep field costs no more than a
    // shallow one. The contract's largest page (`members(first: 100)` with every field, about
    // 2,300) passes; a refusal is a validation error that says what it is, not a "Syntax Error".
    costLimit: {
      maxCost: MAX_COST,
      depthCostFactor: 1,
      propagateOnRejection: false,
      onReject: [(context: ValidationContext | null, err: GraphQLError) => context?.reportError(costError(err))],
    },
    // Apollo's own parseOptions.maxTokens counts tokens instead (a parse error, 400); armor's
    // plugin would answer 500.
    maxTokens: { enabled: false },
    maxDirectives: { n: 20 },
    blockFieldSuggestion: { enabled: config.production },
  }).protect();

  // The WebSocket endpoint gets the same guards as HTTP: token, alias, depth and cost limits, and
  // no introspection in production.
  const wsRules = [...specifiedRules, ...armor.validationRules, ...(config.production ? [NoSchemaIntrospectionCustomRule] : [])];
  const wsServer = new WebSocketServer({ server: httpServer, path: '/graphql', maxPayload: config.bodyLimitBytes });
  /** Operations under way on WebSocket connections, for their log line and metrics when they end. */
  interface WsOperation {
    started: bigint;
    op: string;
    type: string;
    /** Errors a subscription reported (its refusal, or why it ended), for its log line when it ends. */
    errors?: readonly { extensions?: Record<string, unknown> }[];
  }
  const wsOperations = new WeakMap<object, Map<string, WsOperation>>();
  const wsLoggers = new WeakMap<object, Logger>();
  const wsLogger = (extra: object, request: http.IncomingMessage): Logger => {
    let found = wsLoggers.get(extra);
    if (!found) {
      found = logger.child({ reqId: requestIdOf(request.headers['x-request-id']), transport: 'ws' });
      wsLoggers.set(extra, found);
    }
    return found;
  };
  const wsAccounts = new WeakMap<object, string>();
  /** Connections authenticated with a DESKTOP token: they run only manifest operations (R9.3). */
  const wsDesktop = new WeakSet<object>();
  /** The connection's token as checked at connection_init: the only one its operations use. */
  const wsAuthorization = new WeakMap<object, string>();
  const subscriptionLimits = new SubscriptionLimits(metrics);
  const endWsOperation = (
    extra: object,
    request: http.IncomingMessage,
    id: string,
    errors: readonly { extensions?: Record<string, unknown> }[] | undefined,
  ) => {
    const op = wsOperations.get(extra)?.get(id);
    if (!op) return;
    wsOperations.get(extra)!.delete(id);
    if (op.type === 'subscription') subscriptionLimits.release(wsAccounts.get(extra));
    errors ??= op.errors;
    const ms = Number(process.hrtime.bigint() - op.started) / 1e6;
    metrics.operations.inc({ operation: op.op, type: op.type, outcome: errors?.length ? 'error' : 'ok' });
    metrics.operationSeconds.observe({ operation: op.op, type: op.type }, ms / 1000);
    wsLogger(extra, request).info(
      { op: op.op, type: op.type, ms: Math.round(ms * 10) / 10, errors: errors?.map((e) => e.extensions?.code ?? 'UNKNOWN') },
      'graphql',
    );
  };
  const wsCleanup = useServer(
    {
      schema,
      // A subscribe message may name a manifest operation instead of sending `query` (R9.2).
      jsonMessageReviver: wsMessageReviver,
      // A token that does not authenticate is refused at connection_init (close 4403), not at
      // the first operation; no token is an anonymous connection.
      onConnect: async (ctx) => {
        const params = ctx.connectionParams as { authorization?: unknown } | undefined;
        if (params?.authorization !== undefined && typeof params.authorization !== 'string') return false;
        const authorization = params?.authorization;
        if (!authorization) return true;
        wsAuthorization.set(ctx.extra, authorization);
        const context = await contextFor(authorization, undefined, undefined, wsLogger(ctx.extra, ctx.extra.request));
        if (context.session.account) wsAccounts.set(ctx.extra, context.session.account.id);
        if (isDesktopSession(context.session)) wsDesktop.add(ctx.extra);
        return context.session.principal.kind !== 'anonymous';
      },
      // Each operation is parsed and validated here, so that a bad document is an `error` message
      // for that operation alone (never the whole socket closed with 4500).
      onSubscribe: async (ctx, id, payload) => {
        // A manifest operation named by hash runs its body (R9.2); a desktop app runs nothing else (R9.3).
        // (`documentId` is not in graphql-ws's payload type, but arrives in the payload all the same.)
        const plan = planPersisted(persisted, payload);
        if (plan.kind === 'refuse') return [wsError(plan.refusal)];
        if (plan.kind !== 'run' && wsDesktop.has(ctx.extra)) return [wsError(persistedQueryRequired)];
        const query = plan.kind === 'run' ? plan.operation.body : payload.query;
        let document: DocumentNode;
        if (nestingDepth(query) > MAX_NESTING) return [tooDeep()];
        try {
          document = parse(query, { maxTokens: MAX_TOKENS });
        } catch (err) {
          return [coded(err instanceof GraphQLError ? err : new GraphQLError('The document could not be parsed.'), 'GRAPHQL_PARSE_FAILED')];
        }
        const errors = validate(schema, document, wsRules);
        if (errors.length > 0) return errors.map((e) => (e.extensions?.code ? e : coded(e, 'GRAPHQL_VALIDATION_FAILED')));
        const operation = getOperationAST(document, payload.operationName);
        if (!operation) return [coded(new GraphQLError('No operation of that name in the document.'), 'GRAPHQL_VALIDATION_FAILED')];
        let ops = wsOperations.get(ctx.extra);
        if (!ops) wsOperations.set(ctx.extra, (ops = new Map<string, WsOperation>()));
        // An ID still in use (a client that completed and reused it before the first had started)
        // is refused: two operations under one ID could not both be ended or counted.
        if (ops.has(id)) return [coded(new GraphQLError(`The operation ID ${id} is still in use.`), 'BAD_REQUEST')];
        const req = ctx.extra.request;
        // The limits first, before any database work: a flood of subscriptions on one connection is
        // refused at no cost (and the operation counts from here, so concurrent ones count each other).
        if (operation.operation === OperationTypeNode.SUBSCRIPTION) {
          const refused = subscriptionLimits.admit(wsAccounts.get(ctx.extra), ops);
          if (refused) return [refused];
        }
        ops.set(id, { started: process.hrtime.bigint(), op: rootFields(operation), type: operation.operation });
        let contextValue: Context;
        try {
          // Here rather than in graphql-ws's `context`: a failure (the database away) is an error
          // for this operation, not the whole socket closed with 4500.
          contextValue = await contextFor(
            wsAuthorization.get(ctx.extra),
            req.headers['accept-language'],
            clientIp(req, config.trustProxyHops),
            wsLogger(ctx.extra, req),
          );
        } catch (err) {
          const errors = [err instanceof GraphQLError ? err : internalError(err, wsLogger(ctx.extra, req), 'EN')];
          endWsOperation(ctx.extra, req, id, errors);
          return errors;
        }
        return { schema, document, operationName: payload.operationName, variableValues: payload.variables, contextValue };
      },
      onNext: (ctx, id, _payload, _args, result) => {
        // A query or mutation has one result: it ends with it (a subscription ends at complete).
        const op = wsOperations.get(ctx.extra)?.get(id);
        if (op && op.type !== 'subscription') endWsOperation(ctx.extra, ctx.extra.request, id, result.errors);
        else if (op && result.errors?.length) op.errors = result.errors;
      },
      onError: (ctx, id, _payload, errors) => endWsOperation(ctx.extra, ctx.extra.request, id, errors),
      onComplete: (ctx, id) => endWsOperation(ctx.extra, ctx.extra.request, id, undefined),
      // A closed socket ends whatever it still had running (counts and limits included).
      onClose: (ctx) => {
        for (const id of [...(wsOperations.get(ctx.extra)?.keys() ?? [])]) endWsOperation(ctx.extra, ctx.extra.request, id, undefined);
      },
    },
    wsServer,
  );

  // A socket that breaks the WebSocket protocol (an unmasked or oversized frame, bad UTF-8) is closed
  // by ws; graphql-ws would also write it to stderr with a stack. It is the client's fault: a warning
  // in the log, like any bad request.
  wsServer.on('connection', (socket: WebSocket, request: http.IncomingMessage) => {
    socket.removeAllListeners('error');
    socket.on('error', (err) => wsLogger(socket, request).warn({ err: { message: err.message } }, 'WebSocket protocol error; the socket is closed'));
  });

  /** GraphQL over HTTP serves queries and mutations; subscriptions are the WebSocket's (a clear 400, not a null). */
  const httpOnlyPlugin: ApolloServerPlugin<Context> = {
    async requestDidStart() {
      return {
        async didResolveOperation({ operation }) {
          if (operation?.operation === OperationTypeNode.SUBSCRIPTION) {
            throw new GraphQLError('Subscriptions are served over the WebSocket at /graphql (protocol graphql-transport-ws), not over HTTP.', {
              extensions: { code: 'BAD_REQUEST', http: { status: 400 } },
            });
          }
        },
      };
    },
  };

  const logPlugin: ApolloServerPlugin<Context> = {
    async requestDidStart() {
      const started = process.hrtime.bigint();
      return {
        async willSendResponse({ operation, errors, contextValue, request, response }) {
          // GraphQL over HTTP: a client that asks for application/json only (the legacy media type)
          // gets request errors (parse, validation, variables) with 200, as the spec says it SHOULD;
          // everyone else (application/graphql-response+json, */*, no Accept) gets 400.
          if (response.http.status === 400 && legacyJsonOnly(request.http?.headers.get('accept'))) response.http.status = 200;
          const ms = Number(process.hrtime.bigint() - started) / 1e6;
          contextValue.logger.info(
            {
              op: operation ? rootFields(operation) : undefined,
              type: operation?.operation,
              ms: Math.round(ms * 10) / 10,
              errors: errors?.map((e) => e.extensions?.code ?? 'UNKNOWN'),
            },
            'graphql',
          );
        },
      };
    },
  };

  const apollo = new ApolloServer<Context>({
    schema,
    introspection: !config.production,
    csrfPrevention: true,
    stopOnTerminationSignals: false, // the command line owns signals and stops everything in order
    allowBatchedHttpRequests: false,
    // The token limit as a parse error (400, GRAPHQL_PARSE_FAILED), before any validation runs.
    parseOptions: { maxTokens: MAX_TOKENS },
    // Never in an answer, in development either: the log has the error with its stack (and the request ID).
    includeStacktraceInErrorResponses: false,
    validationRules: armor.validationRules,
    // No automatic persisted queries: nobody registers documents at run time. Requests that name a
    // manifest operation by hash are resolved before Apollo (persistedMiddleware below, R9.2).
    persistedQueries: false,
    // Apollo's own request errors that come without a code (an unknown operation name, say) would
    // read as ours: they are the client's, BAD_REQUEST.
    formatError: (formatted, error) => {
      const original = error instanceof GraphQLError ? error : undefined;
      const status = (original?.extensions?.http as { status?: number } | undefined)?.status;
      if (formatted.extensions?.code === 'INTERNAL_SERVER_ERROR' && original && !original.extensions?.code && status === 400) {
        return { ...formatted, extensions: { ...formatted.extensions, code: 'BAD_REQUEST' } };
      }
      return formatted;
    },
    plugins: [
      ...armor.plugins,
      ApolloServerPluginDrainHttpServer({ httpServer }),
      {
        async serverWillStart() {
          return {
            async drainServer() {
              await wsCleanup.dispose();
            },
          };
        },
      },
      metrics.apolloPlugin(),
      httpOnlyPlugin,
      logPlugin,
    ],
  });
  await apollo.start();
  undo.push(() => apollo.stop());

  // Every request has an ID: the caller's `x-request-id` when it is a sane token, else a new one. It
  // is echoed in the response and carried by every log line of the request.
  app.use((req, res, next) => {
    const reqId = requestIdOf(req.headers['x-request-id']);
    res.setHeader('x-request-id', reqId);
    res.locals.logger = logger.child({ reqId });
    const route = routeOf(req.path);
    res.on('finish', () => metrics.httpRequests.inc({ route, status: `${Math.floor(res.statusCode / 100)}xx` }));
    next();
  });
  if (config.corsOrigins.length > 0) {
    app.use(
      '/graphql',
      cors({
        origin: config.corsOrigins,
        methods: ['GET', 'POST'],
        allowedHeaders: ['content-type', 'authorization', 'accept-language', 'x-request-id', 'apollo-require-preflight', 'x-apollo-operation-name'],
        exposedHeaders: ['x-request-id'],
        maxAge: 600,
      }),
    );
  }
  app.get('/healthz', (_req, res) => {
    res.status(200).json({ status: 'ok' });
  });
  // Ready means the database answers within READY_DB_MS: a load balancer asking while the database
  // is frozen or unreachable hears 503 at once rather than waiting with every other request.
  app.get('/readyz', async (_req, res) => {
    if (!ready || stopping) return void res.status(503).json({ status: stopping ? 'stopping' : 'starting' });
    try {
      const pending = await within(READY_DB_MS, async () => {
        // The probe's own read timeout: an unanswered probe frees its connection (pg-pool drops it)
        // when the check gives up, instead of holding it for the full statement timeout.
        await probeDatabase(ds, READY_DB_MS);
        return pendingMigrations(ds);
      });
      if (pending) return void res.status(503).json({ status: 'migrations pending' });
      res.status(200).json({ status: 'ready' });
    } catch (err) {
      logger.warn({ err }, 'readiness check: the database did not answer');
      res.status(503).json({ status: 'database unavailable' });
    }
  });
  app.get('/metrics', async (_req, res) => {
    res.set('Content-Type', metrics.registry.contentType);
    res.send(await metrics.registry.metrics());
  });
  app.get('/.well-known/offline-signing-key', async (_req, res, next) => {
    try {
      res
        .type('application/json')
        .set('Cache-Control', 'public, max-age=3600')
        .send(await services.offline.publicKeyDocument());
    } catch (err) {
      next(err);
    }
  });
  // R7.5: the keys that verify entitlement tokens (every key not retired, the current one first).
  app.get('/.well-known/jwks.json', jwksHandler(services));
  app.use(pageRoutes(services, (req) => keyedHash(appSecret, 'ip', addressKey(clientIp(req, config.trustProxyHops) ?? 'unknown'))));
  /** A request error answered before Apollo: 400, or 200 for a client that accepts application/json only (as Apollo's are). */
  const requestError = (req: Request, res: Response, error: { message: string; extensions: Record<string, unknown> }) =>
    void res
      .status(legacyJsonOnly(req.headers.accept) ? 200 : 400)
      .type(legacyJsonOnly(req.headers.accept) ? 'application/json' : 'application/graphql-response+json')
      .json({ errors: [{ message: error.message, extensions: error.extensions }] });
  /** The request's context, built once: the persisted-operations check may need it before Apollo does. */
  const httpContext = (req: Request, res: Response): Promise<Context> =>
    ((res.locals.context as Promise<Context> | undefined) ??= contextFor(
      req.headers.authorization,
      req.headers['accept-language'],
      clientIp(req, config.trustProxyHops),
      res.locals.logger as Logger,
      httpExchange(req, res),
    ));
  app.use(
    '/graphql',
    express.json({ limit: config.bodyLimitBytes }),
    persistedMiddleware(persisted, {
      // A context that cannot be built (the database away) is Apollo's to answer, with the same error.
      isDesktop: (req, res) =>
        httpContext(req, res).then(
          ({ session }) => isDesktopSession(session),
          () => false,
        ),
      refuse: (req, res, refusal: PersistedRefusal) => {
        (res.locals.logger as Logger).info({ errors: [refusal.code] }, 'graphql');
        requestError(req, res, { message: refusal.message, extensions: { code: refusal.code, ...(refusal.reason ? { reason: refusal.reason } : {}) } });
      },
    }),
    (req: Request, res: Response, next: NextFunction) => {
      const body = req.body as { query?: unknown } | undefined;
      const query = typeof body?.query === 'string' ? body.query : typeof req.query.query === 'string' ? req.query.query : undefined;
      if (query !== undefined && nestingDepth(query) > MAX_NESTING) {
        const error = tooDeep();
        return requestError(req, res, { message: error.message, extensions: error.extensions });
      }
      next();
    },
    expressMiddleware(apollo, { context: async ({ req, res }) => httpContext(req, res) }),
  );
  app.use((err: Error & { status?: number; type?: string }, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(err);
    const status = err.status ?? 500;
    if (status >= 500) ((res.locals.logger as Logger | undefined) ?? logger).error({ err }, 'request failed');
    res.status(status).json({
      errors: [
        {
          message: status === 413 ? 'Request body too large' : status < 500 ? 'Bad request' : 'Internal server error',
          extensions: { code: status === 413 ? 'PAYLOAD_TOO_LARGE' : status < 500 ? 'BAD_REQUEST' : 'INTERNAL_SERVER_ERROR' },
        },
      ],
    });
  });

  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', (err) => reject(listenProblem(config, err)));
    httpServer.listen(config.port, config.host, () => resolve());
  });
  const address = httpServer.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const hostForUrl = config.host.includes(':') ? `[${config.host}]` : config.host;
  const url = `http://${hostForUrl}:${port}/graphql`;
  ready = true;
  logger.info({ url, database: embedded ? 'embedded' : 'DATABASE_URL' }, 'Tessera is listening');

  let stopped: Promise<void> | undefined;
  return {
    url,
    port,
    config,
    services,
    clock,
    ds,
    mailer,
    outbox,
    webhooks,
    logger,
    jobs,
    stop(force = false) {
      if (force) {
        httpServer.closeAllConnections();
        for (const client of wsServer.clients) client.terminate();
        return (async () => {
          await Promise.all([outbox.stop().catch(() => undefined), webhooks?.stop().catch(() => undefined)]);
          await ds.destroy().catch(() => undefined);
          await embedded?.stop();
        })();
      }
      stopped ??= (async () => {
        stopping = true;
        logger.info('shutting down');
        await apollo.stop(); // drains HTTP (finishes requests) and closes WebSocket connections
        logger.debug('HTTP and WebSocket connections closed');
        await jobs.stop();
        await events.close();
        // A delivery under way finishes; queued mail and events stay for the next start (or another instance).
        await Promise.all([outbox.stop(), webhooks?.stop()]);
        transport.close();
        logger.debug('jobs, mail and webhooks finished');
        await ds.destroy();
        await embedded?.stop();
        logger.info('stopped');
      })();
      return stopped;
    },
  };
}

/**
 * The client's address: the socket's, or behind `hops` trusted proxies the entry the outermost of
 * them appended to X-Forwarded-For (counted from the right: whatever a client writes into the
 * header itself stands further left and is never believed).
 */
function clientIp(req: http.IncomingMessage, hops: number): string | undefined {
  if (hops > 0) {
    const header = req.headers['x-forwarded-for'];
    const entries = (Array.isArray(header) ? header.join(',') : (header ?? ''))
      .split(',')
      .map((e) => e.trim())
      .filter(Boolean);
    const entry = entries[entries.length - hops];
    if (entry) return entry;
  }
  return req.socket.remoteAddress;
}

/** An incoming `x-request-id` when it is a short token of safe characters, otherwise a new UUID. */
function requestIdOf(header: string | string[] | undefined): string {
  const value = Array.isArray(header) ? header[0] : header;
  return value && /^[\w.:-]{1,128}$/.test(value) ? value : randomUUID();
}

/** The metrics label of a path: the fixed endpoints by name, the portal's pages as one. */
function routeOf(pathName: string): string {
  if (pathName === '/graphql' || pathName === '/healthz' || pathName === '/readyz' || pathName === '/metrics') return pathName;
  if (pathName.startsWith('/.well-known/')) return '/.well-known';
  return 'other';
}

/** Whether an Accept header names application/json and not application/graphql-response+json. */
function legacyJsonOnly(accept: string | undefined): boolean {
  if (!accept) return false;
  const types = accept.split(',').map((part) => part.split(';')[0].trim().toLowerCase());
  return types.includes('application/json') && !types.includes('application/graphql-response+json');
}

/** The same error with `extensions.code` set. */
function coded(err: GraphQLError, code: string): GraphQLError {
  return new GraphQLError(err.message, {
    nodes: err.nodes,
    source: err.source,
    positions: err.positions,
    path: err.path,
    originalError: err.originalError,
    extensions: { ...err.extensions, code },
  });
}

/** Most live subscriptions on one WebSocket connection, and of one account on one instance. */
export const MAX_SUBSCRIPTIONS_PER_CONNECTION = 50;
export const MAX_SUBSCRIPTIONS_PER_ACCOUNT = 200;

/**
 * Bounds what one client can make the server push: a subscription past either limit is refused
 * with an error for that operation (`TOO_MANY_SUBSCRIPTIONS`), the others go on.
 */
class SubscriptionLimits {
  private readonly perAccount = new Map<string, number>();

  constructor(private readonly metrics: Metrics) {}

  admit(accountId: string | undefined, live: Map<string, { type: string }>): GraphQLError | undefined {
    const onConnection = [...live.values()].filter((o) => o.type === 'subscription').length;
    const ofAccount = accountId ? (this.perAccount.get(accountId) ?? 0) : 0;
    const scope = onConnection >= MAX_SUBSCRIPTIONS_PER_CONNECTION ? 'connection' : ofAccount >= MAX_SUBSCRIPTIONS_PER_ACCOUNT ? 'account' : undefined;
    if (scope) {
      this.metrics.subscriptionsRefused.inc();
      const limit = scope === 'connection' ? MAX_SUBSCRIPTIONS_PER_CONNECTION : MAX_SUBSCRIPTIONS_PER_ACCOUNT;
      return new GraphQLError(`Too many subscriptions: at most ${limit} per ${scope}. End one before starting another.`, {
        extensions: { code: 'TOO_MANY_SUBSCRIPTIONS', limit, scope },
      });
    }
    if (accountId) this.perAccount.set(accountId, ofAccount + 1);
    this.metrics.subscriptions.inc();
    return undefined;
  }

  release(accountId: string | undefined): void {
    this.metrics.subscriptions.dec();
    if (!accountId) return;
    const left = (this.perAccount.get(accountId) ?? 1) - 1;
    if (left <= 0) this.perAccount.delete(accountId);
    else this.perAccount.set(accountId, left);
  }
}
