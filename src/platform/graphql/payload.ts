import type { UserError } from '../../generated/graphql';
import type { Context } from '../context';
import { DomainError } from '../errors';
import { userErrorMessage } from '../i18n';

export function userError(ctx: Context, err: DomainError): UserError {
  return {
    code: err.code,
    message: userErrorMessage(ctx.lang, err.code, err.options.reason, err.options.params),
    field: err.options.field ?? null,
    reason: err.options.reason ?? null,
  };
}

/**
 * Runs a mutation's service call and shapes its payload: the result with `errors: []`, or, for an
 * expected domain failure, empty result fields and the localized `UserError`. Anything else
 * (access and system failures) propagates as a GraphQL error.
 */
export async function payload<T extends object, F extends object = Record<never, never>>(
  ctx: Context,
  run: () => Promise<T>,
  onFailure?: F,
): Promise<(T & { errors: UserError[] }) | (F & { errors: UserError[] })> {
  try {
    return { ...(await run()), errors: [] };
  } catch (err) {
    if (err instanceof DomainError) {
      // Some failures still carry result fields (SEATS_EXHAUSTED its seatUsage, LEASE_ENDED the lease).
      return { ...(onFailure as F), ...err.options.payload, errors: [userError(ctx, err)] } as F & { errors: UserError[] };
    }
    throw err;
  }
}
