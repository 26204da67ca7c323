import type { Resolvers } from '../../generated/graphql';
import type { SeatLeaseEntity } from '../seats/entities';
import type { SeatUsageView } from '../seats/service';
import { SubscriptionEnded } from './service';

/** The event, or the reason the subscription ends (an error for the client, then `complete`). */
export function eventOrEnd<T>(value: T | SubscriptionEnded): T {
  if (value instanceof SubscriptionEnded) throw value;
  return value;
}

export const liveResolvers: Resolvers = {
  Subscription: {
    seatUsageChanged: {
      subscribe: (_p, { organizationId }, ctx) => ctx.services.live.seatUsage(ctx.session, ctx.bearer, organizationId),
      resolve: (usage: SeatUsageView | SubscriptionEnded) => eventOrEnd(usage),
    },
    leaseChanged: {
      subscribe: (_p, { leaseId }, ctx) => ctx.services.live.leaseChanged(ctx.session, ctx.bearer, leaseId),
      resolve: (lease: SeatLeaseEntity | SubscriptionEnded) => eventOrEnd(lease),
    },
  },
};
