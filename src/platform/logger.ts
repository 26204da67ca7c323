import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * Structured JSON logs. Secrets never reach the log: the paths below are censored wherever they
 * appear, and code never logs raw IP addresses, passwords or tokens in the first place.
 */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'tessera' },
      timestamp: pino.stdTimeFunctions.isoTime,
      // Database errors carry the statement's parameters (hashes, emails, tokens' hashes) and the
      // row that failed: keep the message and codes only.
      serializers: {
        err: (err: unknown) => {
          const e = err as { name?: string; message?: string; code?: string; constraint?: string; stack?: string; driverError?: { code?: string } };
          if (!e || typeof e !== 'object') return err;
          return { type: e.name, message: e.message, code: e.code ?? e.driverError?.code, constraint: e.constraint, stack: e.stack };
        },
      },
      redact: {
        paths: [
          'password',
          'newPassword',
          'token',
          'bearer',
          'authorization',
          '*.password',
          '*.newPassword',
          '*.token',
          '*.bearer',
          '*.authorization',
          'req.headers.authorization',
          'req.headers.cookie',
          'variables.*',
        ],
        censor: '[redacted]',
      },
    },
    destination,
  );
}
