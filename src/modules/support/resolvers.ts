import type { Resolvers } from '../../generated/graphql';
import { payload } from '../../platform/graphql/payload';

/** The support desk (R8): thin; the service asks for `support` and audits. */
export const supportResolvers: Resolvers = {
  Query: {
    supportAccount: (_p, { query }, ctx) => ctx.services.support.account(ctx.session, query),
  },
  Mutation: {
    supportReleaseSeats: (_p, { input }, ctx) =>
      payload(ctx, async () => ({ count: await ctx.services.support.releaseSeats(ctx.session, input) }), { count: 0 }),
    supportVerifyEmail: (_p, { accountId }, ctx) => payload(ctx, async () => ({ account: await ctx.services.support.verifyEmail(ctx.session, accountId) })),
    supportClearLoginBlock: (_p, { accountId }, ctx) =>
      payload(ctx, async () => (await ctx.services.support.clearLoginBlock(ctx.session, accountId), { ok: true }), { ok: false }),
    supportTransferLicense: (_p, { input }, ctx) => payload(ctx, async () => ({ license: await ctx.services.support.transferLicense(ctx.session, input) })),
    supportResendLicenseKey: (_p, { licenseId }, ctx) =>
      payload(ctx, async () => (await ctx.services.support.resendLicenseKey(ctx.session, licenseId), { ok: true }), { ok: false }),
    supportDeleteAccount: (_p, { accountId }, ctx) =>
      payload(ctx, async () => (await ctx.services.support.deleteAccount(ctx.session, accountId), { ok: true }), { ok: false }),
  },
  Account: {
    leases: (account, _a, ctx) => ctx.services.seats.leasesOf(ctx.session, account.id),
  },
};
