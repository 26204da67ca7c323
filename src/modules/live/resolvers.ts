import type { Resolvers } from '../../generated/graphql';
import type { SeatLeaseEntity } from '../seats/entities';
import type { SeatUsageView } from '../seats/service';

export const liveResolvers: Resolvers = {
  Subscription: {
    seatUsageChanged: {
      subscribe: (_p, { organizationId }, ctx) => ctx.services.live.seatUsage(ctx.session, ctx.bearer, organizationId),
      resolve: (usage: SeatUsageView) => usage,
    },
    leaseChanged: {
      subscribe: (_p, { leaseId }, ctx) => ctx.services.live.leaseChanged(ctx.session, ctx.bearer, leaseId),
      resolve: (lease: SeatLeaseEntity) => lease,
    },
  },
};
