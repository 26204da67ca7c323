import type { Resolvers } from '../../generated/graphql';
import { payload } from '../../platform/graphql/payload';

export const licenseResolvers: Resolvers = {
  Query: {
    license: (_p, { id }, ctx) => ctx.services.licenses.license(ctx.session, id),
    licenseStatus: (_p, { deviceId }, ctx) => ctx.services.licenses.entitlement(ctx.session, deviceId),
  },
  Mutation: {
    issueLicense: (_p, { input }, ctx) =>
      payload(ctx, async () => ({ license: await ctx.services.licenses.issueLicense(ctx.session, input) })),
    redeemCode: (_p, { code }, ctx) =>
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
    owner: (l, _a, ctx) => (l.ownerAccountId ? ctx.loaders.accountById.load(l.ownerAccountId) : null),
  },
};
