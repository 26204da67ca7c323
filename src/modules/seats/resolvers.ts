import type { Resolvers } from '../../generated/graphql';
import { payload } from '../../platform/graphql/payload';

export const seatResolvers: Resolvers = {
  Query: {
    myLeases: (_p, _a, ctx) => ctx.services.seats.myLeases(ctx.session),
    licenseStatus: (_p, { deviceId }, ctx) => ctx.services.seats.entitlement(ctx.session, deviceId, ctx.loaders),
  },
  Mutation: {
    acquireSeat: (_p, { input }, ctx) =>
      // The lease's device is kept (sealed) for the signed entitlements of its heartbeats (R7.5).
      payload(ctx, async () => ctx.services.entitlements.rememberDevice(ctx.session, await ctx.services.seats.acquire(ctx.session, input), input.deviceId)),
    heartbeatSeat: (_p, { leaseId }, ctx) => payload(ctx, async () => ({ lease: await ctx.services.seats.heartbeat(ctx.session, leaseId) })),
    releaseSeat: (_p, { input }, ctx) =>
      payload(ctx, async () => ({ lease: await ctx.services.seats.release(ctx.session, input.leaseId, input.logout ?? false) })),
    reserveOffline: (_p, { input }, ctx) =>
      payload(ctx, async () => ({ lease: await ctx.services.seats.reserveOffline(ctx.session, input.leaseId, input.days) })),
  },
  SeatLease: {
    expiresAt: (l) => l.lapsesAt,
    heartbeatIntervalSeconds: (_l, _a, ctx) => ctx.services.seats.heartbeatIntervalSeconds(ctx.session),
    license: async (l, _a, ctx) => (await ctx.loaders.licenseById.load(l.licenseId))!,
    organization: (l, _a, ctx) => ctx.services.seats.leaseOrganization(ctx.session, l, ctx.loaders),
    account: (l, _a, ctx) => ctx.services.seats.leaseHolder(ctx.session, l, ctx.loaders),
    entitlement: (l, _a, ctx) => ctx.services.seats.entitlementOfLease(ctx.session, l, ctx.loaders),
  },
  Organization: {
    seatUsage: (org, _a, ctx) => ctx.services.seats.usageOf(ctx.session, org),
    activeLeases: (org, _a, ctx) => ctx.services.seats.activeLeasesOf(ctx.session, org),
  },
  Membership: {
    usingSeat: (m, _a, ctx) => ctx.loaders.usingSeat.load(`${m.membership.organizationId}:${m.membership.accountId}`),
  },
};
