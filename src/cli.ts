#!/usr/bin/env node
// First: tracing (when OTEL_EXPORTER_OTLP_ENDPOINT is set) must start before http, express, graphql and pg load.
import { flushTracing } from './platform/tracing-preload';
import 'reflect-metadata';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, type Config } from './config';
import { OFFLINE_REQUEST_USAGE, OFFLINE_VERIFY_USAGE, runOfflineCommand } from './offline/cli';
import { DESKTOP_USAGE, runDesktopCommand } from '../clients/desktop/src/cli';
import { Clock } from './platform/clock';
import { backupDatabase, restoreDatabase } from './platform/db/backup';
import { migrate, poolOf } from './platform/db/data-source';
import { RateLimits } from './platform/rate-limit';
import { Events, LocalEventBus, RedisEventBus } from './platform/events';
import { createLogger, type Logger } from './platform/logger';
import { Mailer } from './platform/mail/mailer';
import { resolveAppSecret } from './platform/app-secret';
import { NO_WEBHOOKS } from './platform/webhooks/events';
import { mailOutboxFor, openDatabase, startServer, webhookOutboxFor } from './server';
import { createServices, type Services } from './services';
import { parseSupportArgs, runSupportOperation, SUPPORT_USAGE } from './modules/support/cli';
import type { DataSource } from 'typeorm';

const COMMAND_LINE = 'npm run tessera --';

const DATABASE_NOTE = `The database is DATABASE_URL, or the embedded PostgreSQL under DATA_DIR (default ./.data);
the command line finds an embedded database that a running server started and uses it.`;

const USAGE = `Usage: ${COMMAND_LINE} <command> [arguments] [options]
       ${COMMAND_LINE} <command> --help     what a command does and takes (changes nothing)
       ${COMMAND_LINE} --version            the version of Tessera

Commands:
  serve                 start the server (the same as npm start)
  migrate               apply pending database migrations and exit
  grant-support <email> give the account with this email the support role (R8)
  rotate-entitlement-key
                        sign entitlements with a new key from now on; tokens of the old one still verify (R7.5)
  backup <file>         write a consistent backup of the database to <file> (also while the server runs)
  restore <file> [--force]
                        load a backup into the database (--force: replacing what it holds)
  support <operation> … --as <support account>
                        the support desk's operations (R8): find, release-seats, transfer-license,
                        verify-email, clear-login-block, resend-license-key, delete-account
                        (${COMMAND_LINE} support --help)
  offline-request --device <id> --platform <WINDOWS|MAC> --user <A-XXX-XXX> --out <request.html> [--server-url <URL>]
                        write an offline request file for an air-gapped computer (R6)
  offline-verify --response <response.lic> --public-key <file> --device <id> [--nonce <nonce>] [--user <A-XXX-XXX>]
                        check an offline response file with the server's public key (R6)
  desktop <start|status|stop> [--server <URL>] [--state <dir>] [--email <email>] [--platform <P>]
                        play the desktop app with the reference client: take a seat, show it, free it
                        (${COMMAND_LINE} desktop --help)

Exit codes: 0 done, 1 failed (the reason is printed), 2 usage error.
${DATABASE_NOTE}`;

/** The version in package.json (found upwards from this file: src/ when run from source, dist/src/ when built). */
function version(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const file = path.join(dir, 'package.json');
    if (fs.existsSync(file)) {
      const pkg = JSON.parse(fs.readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'tessera' && pkg.version) return pkg.version;
    }
    if (path.dirname(dir) === dir) return 'unknown';
  }
}

async function serve(config: Config, logger: Logger): Promise<void> {
  const server = await startServer(config, { logger });
  // The one line a new user looks for.
  process.stdout.write(`Tessera GraphQL API: ${server.url}\n`);
  let stopping = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.info({ signal }, 'already shutting down');
      return;
    }
    stopping = true;
    logger.info({ signal }, 'signal received');
    // Requests get this long to finish; then the server closes whatever is left and exits.
    setTimeout(() => {
      logger.error('shutdown took longer than 30 s: closing at once');
      // Nothing to wait for or catch: the process exits once the forced stop settles, either way.
      void server.stop(true).finally(() => process.exit(1));
    }, 30_000).unref();
    server.stop().then(
      async () => {
        await flushTracing();
        process.exit(0);
      },
      async (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        await flushTracing();
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}

/** Opens the database for a one-off command, applies migrations, and always closes it again. */
async function withDatabase<T>(config: Config, logger: Logger, work: (svc: Services, ds: DataSource) => Promise<T>): Promise<T> {
  const { ds, embedded } = await openDatabase(config, logger);
  // A one-off command queues mail and webhook events in the outbox; the servers' workers deliver them.
  let mail: ReturnType<typeof mailOutboxFor> | undefined;
  let webhooks: ReturnType<typeof webhookOutboxFor>;
  let redis: RedisEventBus | undefined;
  try {
    await migrate(ds, logger);
    const appSecret = resolveAppSecret(config.appSecret, config.dataDir, logger);
    mail = mailOutboxFor(config, ds, appSecret, logger, false);
    const { outbox } = mail;
    await outbox.start();
    const clock = new Clock(false);
    webhooks = webhookOutboxFor(config, ds, clock, logger, false);
    await webhooks?.start();
    // With Redis the running servers hear what a command changed (a freed seat's app is told at once).
    if (config.redisUrl) {
      redis = new RedisEventBus(config.redisUrl, logger);
      await redis.ready();
    }
    const events = new Events(redis ?? new LocalEventBus());
    const services = createServices({
      config,
      ds,
      clock,
      mailer: new Mailer(outbox),
      logger,
      rateLimits: new RateLimits(poolOf(ds), config.rateLimitFactor),
      appSecret,
      events,
      webhooks: webhooks ?? NO_WEBHOOKS,
    });
    return await work(services, ds);
  } finally {
    await webhooks?.stop();
    await mail?.outbox.stop();
    mail?.transport.close();
    await redis?.close();
    await ds.destroy();
    await embedded?.stop();
  }
}

/** What a command gets once its arguments are parsed; configuration is loaded only when asked for. */
interface Invocation {
  positionals: string[];
  values: Record<string, string | boolean | undefined>;
  /** Loads the configuration (throws ConfigError) and a logger (stderr for every command but serve). */
  setup: () => { config: Config; logger: Logger };
}

interface Command {
  usage: string;
  /** Positional arguments, by name (each required). */
  args?: string[];
  /** Options besides --help and --version. */
  options?: Record<string, { type: 'string' | 'boolean'; short?: string }>;
  run(call: Invocation): Promise<number>;
}

/** Commands that parse their own arguments (their --help changes nothing either). */
interface Delegated {
  usage: string;
  delegate(args: string[]): Promise<number>;
}

const io = { stdout: process.stdout, stderr: process.stderr };

const COMMANDS: Record<string, Command | Delegated> = {
  serve: {
    usage: `Usage: ${COMMAND_LINE} serve
  Starts the server (the same as npm start) and prints "Tessera GraphQL API: <URL>" once it listens.
  SIGINT or SIGTERM stop it: requests in progress finish first (at most 30 s).
  Configured by the environment: PORT, HOST, DATABASE_URL, DATA_DIR, PUBLIC_URL, SMTP_URL, … (README, "Configuration").`,
    async run({ setup }) {
      const { config, logger } = setup();
      await serve(config, logger);
      return -1; // keeps running
    },
  },
  migrate: {
    usage: `Usage: ${COMMAND_LINE} migrate
  Applies pending database migrations and exits (the server applies them on start too).
${DATABASE_NOTE}`,
    async run({ setup }) {
      const { config, logger } = setup();
      await withDatabase(config, logger, async () => undefined);
      process.stdout.write('Migrations are up to date.\n');
      return 0;
    },
  },
  'grant-support': {
    usage: `Usage: ${COMMAND_LINE} grant-support <email>
  Gives the account with this email address the support role (R8): it may then use the support
  operations in the portal and on the command line (${COMMAND_LINE} support --help).`,
    args: ['email'],
    async run({ positionals: [email], setup }) {
      const { config, logger } = setup();
      const account = await withDatabase(config, logger, (svc) => svc.accounts.grantSupport(email));
      process.stdout.write(`${account.userId} (${account.email}) now has the support role.\n`);
      return 0;
    },
  },
  'rotate-entitlement-key': {
    usage: `Usage: ${COMMAND_LINE} rotate-entitlement-key
  Signs entitlements with a new key from now on (R7.5); running servers pick it up within a minute.
  Tokens signed with the previous key still verify until they expire (/.well-known/jwks.json lists both).`,
    async run({ setup }) {
      const { config, logger } = setup();
      const rotated = await withDatabase(config, logger, (services) => services.entitlements.rotateKey());
      process.stdout.write(
        `Entitlements are signed with ${rotated.kid} from now on (servers pick it up within a minute)${rotated.previousKid ? `; ${rotated.previousKid} still verifies until its tokens expire` : ''}.${rotated.retired.length ? ` Retired: ${rotated.retired.join(', ')}.` : ''}\n`,
      );
      return 0;
    },
  },
  backup: {
    usage: `Usage: ${COMMAND_LINE} backup <file>
  Writes a consistent backup of the database to <file>, also while servers run.
  Keep the app secret beside it (APP_SECRET, or DATA_DIR/app-secret): it wraps the signing keys.
${DATABASE_NOTE}`,
    args: ['file'],
    async run({ positionals: [file], setup }) {
      const { config, logger } = setup();
      const result = await backupDatabase(config, logger, path.resolve(file));
      process.stdout.write(`Wrote ${result.file}: ${result.tables} tables, ${result.bytes} bytes.\n`);
      return 0;
    },
  },
  restore: {
    usage: `Usage: ${COMMAND_LINE} restore <file> [--force]
  Loads a backup written by "backup" into the database, all of it or nothing. Refused when the
  database holds data, unless --force (which replaces everything in it). Put the app secret of the
  backed-up servers in place too (APP_SECRET, or DATA_DIR/app-secret).
${DATABASE_NOTE}`,
    args: ['file'],
    options: { force: { type: 'boolean' } },
    async run({ positionals: [file], values, setup }) {
      const { config, logger } = setup();
      const result = await restoreDatabase(config, logger, path.resolve(file), { force: values.force === true });
      process.stdout.write(`Restored ${result.tables} tables, ${result.rows} rows from ${path.resolve(file)}.\n`);
      return 0;
    },
  },
  support: {
    usage: SUPPORT_USAGE,
    async delegate(args) {
      // Parsed (and --help answered) before any configuration is read or database opened.
      const request = parseSupportArgs(args, process);
      if (request === 'help') {
        process.stdout.write(SUPPORT_USAGE + '\n');
        return 0;
      }
      if (!request) return 2;
      const config = loadConfig();
      const logger = createLogger(config.logLevel, process.stderr);
      return withDatabase(config, logger, (services, ds) => runSupportOperation(request, services, ds, process));
    },
  },
  // The app-side offline commands need no server configuration (they run on the app's side).
  'offline-request': { usage: OFFLINE_REQUEST_USAGE, delegate: (args) => runOfflineCommand('offline-request', args, io) },
  'offline-verify': { usage: OFFLINE_VERIFY_USAGE, delegate: (args) => runOfflineCommand('offline-verify', args, io) },
  // The desktop app played with the reference client: it talks to a server, it is none.
  desktop: {
    usage: DESKTOP_USAGE,
    delegate(args) {
      const stop = new Promise((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      return runDesktopCommand(args, { ...io, env: process.env, stopSignal: stop });
    },
  },
};

const GLOBAL_OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'V' },
} as const;

function usageError(problem: string, usage: string): number {
  process.stderr.write(`${problem}\n\n${usage}\n`);
  return 2;
}

/** The options before a `--` (after it everything is an argument). */
function optionsOf(args: string[]): string[] {
  const end = args.indexOf('--');
  return end < 0 ? args : args.slice(0, end);
}

async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined) return usageError('Name a command.', USAGE);
  if (first === 'help') {
    const command = rest[0] === undefined ? undefined : COMMANDS[rest[0]];
    if (rest[0] !== undefined && !command) return usageError(`Unknown command "${rest[0]}".`, USAGE);
    process.stdout.write(`${command?.usage ?? USAGE}\n`);
    return 0;
  }
  if (first.startsWith('-')) {
    // Options without a command: --help, --version, and nothing else.
    let parsed;
    try {
      parsed = parseArgs({ args: argv, options: GLOBAL_OPTIONS, allowPositionals: true, strict: true });
    } catch (err) {
      return usageError((err as Error).message, USAGE);
    }
    if (parsed.values.version) {
      process.stdout.write(`${version()}\n`);
      return 0;
    }
    if (parsed.values.help) {
      const named = parsed.positionals[0] === undefined ? undefined : COMMANDS[parsed.positionals[0]];
      process.stdout.write(`${named?.usage ?? USAGE}\n`);
      return 0;
    }
    return usageError('Name a command before its options.', USAGE);
  }
  const command = Object.hasOwn(COMMANDS, first) ? COMMANDS[first] : undefined;
  if (!command) return usageError(`Unknown command "${first}".`, USAGE);

  if ('delegate' in command) {
    // --version works everywhere; --help is the command's own (it changes nothing there either).
    const options = optionsOf(rest);
    if (!options.some((a) => a === '--help' || a === '-h') && options.some((a) => a === '--version' || a === '-V')) {
      process.stdout.write(`${version()}\n`);
      return 0;
    }
    return command.delegate(rest);
  }

  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: { ...GLOBAL_OPTIONS, ...command.options }, allowPositionals: true, strict: true });
  } catch (err) {
    return usageError(`${first}: ${(err as Error).message}`, command.usage);
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  if (values.help) {
    process.stdout.write(`${command.usage}\n`);
    return 0;
  }
  if (values.version) {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  const names = command.args ?? [];
  const missing = names.find((_, i) => !parsed.positionals[i]?.trim());
  if (missing) return usageError(`${first} needs <${missing}>.`, command.usage);
  if (parsed.positionals.length > names.length) {
    const extra = parsed.positionals.slice(names.length).map((a) => `"${a}"`);
    return usageError(`${first} takes ${names.length ? names.map((n) => `<${n}>`).join(' ') : 'no arguments'}; unexpected: ${extra.join(' ')}.`, command.usage);
  }
  return command.run({
    positionals: parsed.positionals,
    values,
    setup() {
      const config = loadConfig();
      // One-off commands log to stderr, so that their stdout holds only their answer.
      return { config, logger: createLogger(config.logLevel, first === 'serve' ? undefined : process.stderr) };
    },
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err: unknown) => {
    process.stderr.write(`${err instanceof ConfigError ? 'Configuration error' : 'Error'}: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
