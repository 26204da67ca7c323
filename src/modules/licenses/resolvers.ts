import type { Resolvers } from '../../generated/graphql';
import { payload } from '../../platform/graphql/payload';

export const licenseResolvers: Resolvers = {
  Query: {
    license: (_p, { id }, ctx) => ctx.services.licenses.license(ctx.session, id),
  },
  Mutation: {
    issueLicense: (_p, { input }, ctx) => payload(ctx, async () => ({ license: await ctx.services.licenses.issueLicense(ctx.session, input) })),
    redeemCode: (_p, { code }, ctx) =>
      // One box for license keys and invite codes (R2.3, R3.3).
      payload(ctx, () => ctx.services.licenses.redeemCode(ctx.session, code, ctx.ipHash), { alreadyRedeemedByYou: false }),
    renewLicense: (_p, { input }, ctx) => payload(ctx, async () => ({ license: await ctx.services.licenses.renewLicense(ctx.session, input) })),
    revokeLicense: (_p, { input }, ctx) => payload(ctx, async () => ({ license: await ctx.services.licenses.revokeLicense(ctx.session, input) })),
    createShopHandoff: (_p, _a, ctx) => payload(ctx, () => ctx.services.licenses.createShopHandoff(ctx.session)),
  },
  Account: {
    licenses: (account, _a, ctx) => ctx.services.licenses.licensesOf(ctx.session, account.id),
    seatPool: (account, _a, ctx) => ctx.services.licenses.seatPool(ctx.session, account.id),
  },
  License: {
    key: (l, _a, ctx) => ctx.services.licenses.keyOf(ctx.session, l),
    status: (l, _a, ctx) => ctx.services.licenses.status(l),
    sharable: (l, _a, ctx) => ctx.services.licenses.sharable(l),
    offlineCapable: (l, _a, ctx) => ctx.services.licenses.offlineCapable(l),
    owner: (l, _a, ctx) => ctx.services.licenses.ownerOf(ctx.session, l, ctx.loaders),
  },
  Entitlement: {
    owner: (e, _a, ctx) => ctx.services.licenses.entitlementOwner(ctx.session, e),
    token: (e, _a, ctx) => ctx.services.entitlements.token(ctx.session, e),
  },
};
