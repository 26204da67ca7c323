import type { Resolvers } from '../../generated/graphql';
import { payload } from '../../platform/graphql/payload';
import { eventOrEnd } from '../live/resolvers';
import type { SubscriptionEnded } from '../live/service';
import type { WaitlistEntryEntity } from './waitlist-entity';

export const waitlistResolvers: Resolvers = {
  Query: {
    myWaitlist: (_p, _a, ctx) => ctx.services.waitlist.entriesOf(ctx.session),
  },
  Mutation: {
    joinWaitlist: (_p, { input }, ctx) => payload(ctx, () => ctx.services.waitlist.join(ctx.session, input)),
    leaveWaitlist: (_p, { organizationId }, ctx) =>
      payload(ctx, async () => (await ctx.services.waitlist.leave(ctx.session, organizationId), { ok: true }), { ok: false }),
  },
  Subscription: {
    waitlistChanged: {
      subscribe: (_p, { organizationId }, ctx) => ctx.services.live.waitlist(ctx.session, ctx.bearer, organizationId),
      resolve: (entry: WaitlistEntryEntity | SubscriptionEnded) => eventOrEnd(entry),
    },
  },
  WaitlistEntry: {
    organization: (e, _a, ctx) => ctx.services.waitlist.entryOrganization(ctx.session, e, ctx.loaders),
    position: (e, _a, ctx) => (e.status === 'WAITING' || e.status === 'HOLDING' ? ctx.services.waitlist.position(ctx.session, e) : null),
    holdUntil: (e) => (e.status === 'HOLDING' ? e.holdUntil : null),
  },
};
