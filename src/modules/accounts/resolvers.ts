import type { Resolvers } from '../../generated/graphql';
import { payload } from '../../platform/graphql/payload';

/** Thin: parse arguments, call one service method, shape the payload. */
export const accountResolvers: Resolvers = {
  Query: {
    me: (_p, _a, ctx) => ctx.services.accounts.me(ctx.session),
  },
  Mutation: {
    register: (_p, { input }, ctx) => payload(ctx, () => ctx.services.accounts.register(ctx.session, input, ctx.ipHash)),
    verifyEmail: (_p, { token }, ctx) => payload(ctx, async () => ({ account: await ctx.services.accounts.verifyEmail(ctx.session, token) })),
    resendVerificationEmail: (_p, _a, ctx) =>
      payload(ctx, async () => (await ctx.services.accounts.resendVerificationEmail(ctx.session), { ok: true }), { ok: false }),
    login: (_p, { input }, ctx) =>
      payload(ctx, async () => {
        const proof = { deviceCookie: ctx.http?.deviceCookie, deviceId: input.deviceId };
        const result = await ctx.services.accounts.login(
          ctx.session,
          { email: input.email, password: input.password, client: input.client ?? 'WEB' },
          ctx.ipHash,
          proof,
        );
        if (result.deviceCookie) ctx.http?.setDeviceCookie(result.deviceCookie);
        return result;
      }),
    logout: (_p, _a, ctx) => payload(ctx, async () => (await ctx.services.accounts.logout(ctx.session), { ok: true }), { ok: false }),
    logoutEverywhere: (_p, _a, ctx) => payload(ctx, () => ctx.services.accounts.logoutEverywhere(ctx.session), { endedLeases: 0, revokedTokens: 0 }),
    requestPasswordReset: (_p, { email }, ctx) =>
      payload(ctx, async () => (await ctx.services.accounts.requestPasswordReset(ctx.session, email, ctx.ipHash), { ok: true }), { ok: false }),
    resetPassword: (_p, { input }, ctx) =>
      payload(ctx, async () => (await ctx.services.accounts.resetPassword(ctx.session, input.token, input.newPassword, ctx.ipHash), { ok: true }), {
        ok: false,
      }),
    updateProfile: (_p, { input }, ctx) => payload(ctx, async () => ({ account: await ctx.services.accounts.updateProfile(ctx.session, input) })),
  },
  Account: {
    email: (a) => a.email ?? '',
    name: (a) => a.name ?? '',
    emailVerified: (a) => a.emailVerifiedAt !== null,
  },
  AccountSummary: {
    userId: (s) => s.account.userId,
    name: (s) => s.account.name ?? '',
    // Whether the address shows was decided by the service that handed out the summary.
    email: (s) => (s.showEmail ? s.account.email : null),
  },
};
