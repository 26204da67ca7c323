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
