import type { Resolvers } from '../../generated/graphql';
import { payload } from '../../platform/graphql/payload';

export const offlineResolvers: Resolvers = {
  Query: {
    offlineSigningKey: (_p, _a, ctx) => ctx.services.offline.publicKeyPem(ctx.session),
  },
  Mutation: {
    validateOfflineRequest: (_p, { request }, ctx) => payload(ctx, () => ctx.services.offline.validate(ctx.session, request)),
  },
};
