#!/usr/bin/env node
import 'reflect-metadata';
import { ConfigError, loadConfig, type Config } from './config';
import { SeatLedger } from './modules/seats/ledger';
import { AccountService } from './modules/accounts/service';
import { runOfflineCommand } from './offline/cli';
import { Clock } from './platform/clock';
import { migrate, poolOf } from './platform/db/data-source';
import { RateLimits } from './platform/rate-limit';
import { Events, LocalEventBus } from './platform/events';
import { createLogger, type Logger } from './platform/logger';
import { Mailer } from './platform/mail/mailer';
import { resolveAppSecret } from './platform/app-secret';
import { NO_WEBHOOKS } from './platform/webhooks/events';
import { mailOutboxFor, openDatabase, startServer } from './server';

const USAGE = `Usage: npm run tessera -- <command>

Commands:
  serve                 start the server (the same as npm start)
  migrate               apply pending database migrations and exit
  grant-support <email> give the account with this email the support role (R8)
  offline-request --device <id> --platform <WINDOWS|MAC> --user <A-XXX-XXX> --out <request.html> [--server-url <URL>]
                        write an offline request file for an air-gapped computer (R6)
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
async function withDatabase<T>(config: Config, logger: Logger, work: (svc: { accounts: AccountService }) => Promise<T>): Promise<T> {
  const { ds, embedded } = await openDatabase(config, logger);
  // A one-off command queues mail in the outbox; the server's worker delivers it.
  let mail: ReturnType<typeof mailOutboxFor> | undefined;
  try {
    await migrate(ds, logger);
    const appSecret = resolveAppSecret(config.appSecret, config.dataDir, logger);
    mail = mailOutboxFor(config, ds, appSecret, logger, false);
    const { outbox } = mail;
    await outbox.start();
    const mailer = new Mailer(outbox);
    const clock = new Clock(false);
    const events = new Events(new LocalEventBus());
    return await work({
      accounts: new AccountService({
        ds,
        clock,
        mailer,
        logger,
        publicUrl: config.publicUrl,
        appSecret,
        rateLimits: new RateLimits(poolOf(ds), config.rateLimitFactor),
        events,
        webhooks: NO_WEBHOOKS,
        ledger: new SeatLedger({ ds, clock, logger, events }),
      }),
    });
  } finally {
    await mail?.outbox.stop();
    mail?.transport.close();
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
