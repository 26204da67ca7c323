import { GraphQLError } from 'graphql';
import type { Context } from '../context';
import { AccessError, DomainError, graphQLErrorFor } from '../errors';
import { accessMessage, userErrorMessage, type Lang } from '../i18n';
import { isDatabaseUnavailable } from '../db/errors';

/** Turns any error thrown by a resolver into the GraphQL error the contract describes, in the caller's language. */
export function toGraphQLError(err: unknown, ctx: Context | undefined): GraphQLError {
  const lang: Lang = ctx?.lang ?? 'EN';
  if (err instanceof GraphQLError) return err;
  if (err instanceof AccessError) return graphQLErrorFor(err, accessMessage(lang, err.code, err.params));
  if (err instanceof DomainError) {
    // A domain failure outside a mutation payload (a query): still coded and localized.
    return new GraphQLError(userErrorMessage(lang, err.code, err.options.reason, err.options.params), {
      extensions: { code: err.code, ...(err.options.reason ? { reason: err.options.reason } : {}) },
    });
  }
  return internalError(err, ctx?.logger, lang);
}

/**
 * What the client learns of an unexpected failure: a generic message in its language, never the
 * driver's text (it would name hosts and ports). The log keeps the cause; a database that could not
 * be reached or did not answer in time is told apart (`reason: DATABASE_UNAVAILABLE`) so that
 * clients and operators know that trying again later is the answer.
 */
export function internalError(err: unknown, logger: Context['logger'] | undefined, lang: Lang): GraphQLError {
  const unavailable = isDatabaseUnavailable(err);
  if (unavailable) logger?.warn({ err }, 'the database is unavailable');
  else logger?.error({ err }, 'unexpected error in a resolver');
  return new GraphQLError(accessMessage(lang, 'INTERNAL_SERVER_ERROR'), {
    extensions: { code: 'INTERNAL_SERVER_ERROR', ...(unavailable ? { reason: 'DATABASE_UNAVAILABLE' } : {}) },
  });
}

type AnyFn = (...args: unknown[]) => unknown;

function wrapFn(fn: AnyFn): AnyFn {
  return function wrapped(this: unknown, ...args: unknown[]) {
    const ctx = args[2] as Context | undefined;
    try {
      const result = fn.apply(this, args);
      if (result && typeof (result as Promise<unknown>).then === 'function') {
        return (result as Promise<unknown>).then(undefined, (err: unknown) => {
          throw toGraphQLError(err, ctx);
        });
      }
      return result;
    } catch (err) {
      throw toGraphQLError(err, ctx);
    }
  };
}

/** Wraps every resolver (and subscription `subscribe`) of a resolver map with `toGraphQLError`. */
export function wrapResolvers<T extends Record<string, unknown>>(resolvers: T): T {
  const out: Record<string, unknown> = {};
  for (const [typeName, fields] of Object.entries(resolvers)) {
    if (!fields || typeof fields !== 'object' || fields.constructor !== Object) {
      out[typeName] = fields; // scalars
      continue;
    }
    const wrappedFields: Record<string, unknown> = {};
    for (const [field, value] of Object.entries(fields as Record<string, unknown>)) {
      if (typeof value === 'function') wrappedFields[field] = wrapFn(value as AnyFn);
      else if (value && typeof value === 'object') {
        const v = value as { subscribe?: AnyFn; resolve?: AnyFn };
        wrappedFields[field] = {
          ...v,
          ...(v.subscribe ? { subscribe: wrapFn(v.subscribe) } : {}),
          ...(v.resolve ? { resolve: wrapFn(v.resolve) } : {}),
        };
      } else wrappedFields[field] = value;
    }
    out[typeName] = wrappedFields;
  }
  return out as T;
}
