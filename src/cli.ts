#!/usr/bin/env node
import 'reflect-metadata';
import { ConfigError, loadConfig, type Config } from './config';
import { runOfflineCommand } from './offline/cli';
import { runDesktopCommand } from '../clients/desktop/src/cli';
import { Clock } from './platform/clock';
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

const USAGE = `Usage: npm run tessera -- <command>

Commands:
  serve                 start the server (the same as npm start)
  migrate               apply pending database migrations and exit
  grant-support <email> give the account with this email the support role (R8)
  rotate-entitlement-key
                        sign entitlements with a new key from now on; tokens of the old one still verify (R7.5)
  support <operation> … --as <support account>
                        the support desk's operations (R8): find, release-seats, transfer-license,
                        verify-email, clear-login-block, resend-license-key, delete-account
                        (npm run tessera -- support --help)
  offline-request --device <id> --platform <WINDOWS|MAC> --user <A-XXX-XXX> --out <request.html> [--server-url <URL>]
                        write an offline request file for an air-gapped computer (R6)
  desktop <start|status|stop> [--server <URL>] [--state <dir>] [--email <email>] [--platform <P>]
                        play the desktop app with the reference client: take a seat, show it, free it
                        (npm run tessera -- desktop --help)
  offline-verify --response <response.lic> --public-key <file> --device <id> [--nonce <nonce>] [--user <A-XXX-XXX>]
                        check an offline response file with the server's public key (R6)

The database is DATABASE_URL, or the embedded PostgreSQL under DATA_DIR (default ./.data);
the command line finds an embedded database that a running server started and uses it.`;

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
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
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

async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  if (!command || command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(USAGE + '\n');
    return command ? 0 : 2;
  }
  // The app-side offline commands need no server configuration (they run on the app's side).
  if (command === 'offline-request' || command === 'offline-verify') {
    return runOfflineCommand(command, args, { stdout: process.stdout, stderr: process.stderr });
  }
  // The desktop app played with the reference client: it talks to a server, it is none.
  if (command === 'desktop') {
    const stop = new Promise((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    return runDesktopCommand(args, { stdout: process.stdout, stderr: process.stderr, env: process.env, stopSignal: stop });
  }
  const config = loadConfig();
  // One-off commands log to stderr, so that their stdout holds only their answer.
  const logger = createLogger(config.logLevel, command === 'serve' ? undefined : process.stderr);
  switch (command) {
    case 'serve':
      await serve(config, logger);
      return -1; // keeps running
    case 'migrate':
      await withDatabase(config, logger, async () => undefined);
      process.stdout.write('Migrations are up to date.\n');
      return 0;
    case 'support': {
      const request = parseSupportArgs(args, process);
      if (request === 'help') {
        process.stdout.write(SUPPORT_USAGE + '\n');
        return 0;
      }
      if (!request) return 2;
      return withDatabase(config, logger, (services, ds) => runSupportOperation(request, services, ds, process));
    }
    case 'rotate-entitlement-key': {
      const rotated = await withDatabase(config, logger, (services) => services.entitlements.rotateKey());
      process.stdout.write(
        `Entitlements are signed with ${rotated.kid} from now on (servers pick it up within a minute)${rotated.previousKid ? `; ${rotated.previousKid} still verifies until its tokens expire` : ''}.${rotated.retired.length ? ` Retired: ${rotated.retired.join(', ')}.` : ''}\n`,
      );
      return 0;
    }
    case 'grant-support': {
      const email = args[0];
      if (!email) {
        process.stderr.write('grant-support needs an email address: npm run tessera -- grant-support someone@example.com\n');
        return 2;
      }
      const account = await withDatabase(config, logger, (svc) => svc.accounts.grantSupport(email));
      process.stdout.write(`${account.userId} (${account.email}) now has the support role.\n`);
      return 0;
    }
    default:
      process.stderr.write(`Unknown command "${command}".\n\n${USAGE}\n`);
      return 2;
  }
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
