import { GraphQLError } from 'graphql';
import type { ErrorCode } from '../generated/graphql';

export type { ErrorCode };

/** Values a message may interpolate, e.g. `{ until: Date }`. */
export type MessageParams = Record<string, string | number | Date>;

/**
 * An expected domain failure (wrong password, bad key, seats exhausted). Services throw it; the
 * resolver turns it into a `UserError` in the payload, in the caller's language.
 */
export class DomainError extends Error {
  constructor(
    readonly code: ErrorCode,
    readonly options: {
      reason?: string;
      field?: string[];
      params?: MessageParams;
      /** Result fields the payload still carries with the error (e.g. `seatUsage` with SEATS_EXHAUSTED). */
      payload?: Record<string, unknown>;
    } = {},
  ) {
    super(options.reason ? `${code}: ${options.reason}` : code);
  }
}

/** Access and system failures, reported as GraphQL errors with `extensions.code`. */
export type AccessCode = 'UNAUTHENTICATED' | 'NOT_FOUND' | 'FORBIDDEN' | 'RATE_LIMITED' | 'INTERNAL_SERVER_ERROR';

export class AccessError extends Error {
  constructor(
    readonly code: AccessCode,
    readonly params: MessageParams = {},
  ) {
    super(code);
  }
}

export function graphQLErrorFor(err: AccessError, message: string): GraphQLError {
  return new GraphQLError(message, {
    extensions: { code: err.code, ...(err.params.retryAfterSeconds ? { retryAfterSeconds: err.params.retryAfterSeconds } : {}) },
  });
}
