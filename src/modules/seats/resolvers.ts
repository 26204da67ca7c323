import type { Resolvers } from '../../generated/graphql';
import { payload } from '../../platform/graphql/payload';
import { summaryOf } from '../accounts/summary';

export const seatResolvers: Resolvers = {
  Query: {
    myLeases: (_p, _a, ctx) => ctx.services.seats.myLeases(ctx.session),
    licenseStatus: (_p, { deviceId }, ctx) => ctx.services.seats.entitlement(ctx.session, deviceId, ctx.loaders),
  },
  Mutation: {
    acquireSeat: (_p, { input }, ctx) => payload(ctx, () => ctx.services.seats.acquire(ctx.session, input)),
    heartbeatSeat: (_p, { leaseId }, ctx) => payload(ctx, async () => ({ lease: await ctx.services.seats.heartbeat(ctx.session, leaseId) })),
    releaseSeat: (_p, { input }, ctx) =>
      payload(ctx, async () => ({ lease: await ctx.services.seats.release(ctx.session, input.leaseId, input.logout ?? false) })),
    reserveOffline: (_p, { input }, ctx) =>
      payload(ctx, async () => ({ lease: await ctx.services.seats.reserveOffline(ctx.session, input.leaseId, input.days) })),
  },
  SeatLease: {
    expiresAt: (l) => l.lapsesAt,
    heartbeatIntervalSeconds: (_l, _a, ctx) => ctx.services.seats.heartbeatIntervalSeconds,
    license: async (l, _a, ctx) => (await ctx.loaders.licenseById.load(l.licenseId))!,
    organization: (l, _a, ctx) => (l.organizationId ? ctx.loaders.organizationById.load(l.organizationId) : null),
    account: async (l, _a, ctx) => {
      const account = l.accountId ? await ctx.loaders.accountById.load(l.accountId) : null;
      return account ? summaryOf(account, ctx.session.account?.id === account.id || ctx.session.hasRole('SUPPORT')) : null;
    },
    entitlement: (l, _a, ctx) => ctx.services.seats.entitlementOfLease(l, ctx.loaders),
  },
  Organization: {
    seatUsage: (org, _a, ctx) => ctx.services.seats.usageOf(org),
    activeLeases: (org, _a, ctx) => ctx.services.seats.activeLeasesOf(org),
  },
  Membership: {
    usingSeat: (m, _a, ctx) => ctx.loaders.usingSeat.load(`${m.membership.organizationId}:${m.membership.accountId}`),
  },
};
