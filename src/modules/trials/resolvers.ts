import type { Resolvers } from '../../generated/graphql';
import { payload } from '../../platform/graphql/payload';

export const trialResolvers: Resolvers = {
  Mutation: {
    requestTrial: (_p, _a, ctx) => payload(ctx, async () => ({ license: await ctx.services.trials.requestTrial(ctx.session) })),
  },
  Account: {
    trial: (account, _a, ctx) => ctx.services.trials.statusOf(ctx.session, account.id),
  },
};
