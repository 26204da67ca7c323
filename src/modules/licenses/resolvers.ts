import type { Resolvers } from '../../generated/graphql';
import { payload } from '../../platform/graphql/payload';
import { summaryOf } from '../accounts/summary';

export const licenseResolvers: Resolvers = {
  Query: {
    license: (_p, { id }, ctx) => ctx.services.licenses.license(ctx.session, id),
  },
  Mutation: {
    issueLicense: (_p, { input }, ctx) => payload(ctx, async () => ({ license: await ctx.services.licenses.issueLicense(ctx.session, input) })),
    redeemCode: (_p, { code }, ctx) =>
      // One box for license keys and invite codes (R2.3, R3.3).
      payload(ctx, () => ctx.services.licenses.redeemCode(ctx.session, code, ctx.ipHash), { alreadyRedeemedByYou: false }),
  },
  Account: {
    licenses: (account, _a, ctx) => ctx.services.licenses.licensesOf(ctx.session, account.id),
    seatPool: async (account, _a, ctx) => ctx.services.licenses.seatPool(await ctx.services.licenses.licensesOf(ctx.session, account.id)),
  },
  License: {
    key: (l, _a, ctx) => (ctx.services.licenses.canSeeKey(ctx.session, l) ? l.key : null),
    status: (l, _a, ctx) => ctx.services.licenses.status(l),
    sharable: (l, _a, ctx) => ctx.services.licenses.sharable(l),
    offlineCapable: (l, _a, ctx) => ctx.services.licenses.offlineCapable(l),
    owner: async (l, _a, ctx) => {
      const owner = l.ownerAccountId ? await ctx.loaders.accountById.load(l.ownerAccountId) : null;
      return owner ? summaryOf(owner, ctx.services.licenses.canSeeOwnerEmail(ctx.session, l)) : null;
    },
  },
  Entitlement: {
    owner: (e, _a, ctx) => (e.owner ? summaryOf(e.owner, ctx.session.account?.id === e.owner.id) : null),
  },
};
