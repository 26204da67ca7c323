import type { Resolvers } from '../../generated/graphql';
import { payload } from '../../platform/graphql/payload';

export const systemResolvers: Resolvers = {
  Mutation: {
    advanceTestClock: (_p, { seconds }, ctx) => payload(ctx, async () => ({ now: await ctx.services.system.advanceTestClock(ctx.session, seconds) })),
  },
};
