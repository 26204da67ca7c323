import type { Resolvers } from '../../generated/graphql';
import { payload } from '../../platform/graphql/payload';
import { summaryOf } from '../accounts/summary';

export const organizationResolvers: Resolvers = {
  Query: {
    organization: (_p, { id }, ctx) => ctx.services.organizations.organization(ctx.session, id),
    invitation: (_p, { code }, ctx) => ctx.services.organizations.invitation(ctx.session, code, ctx.ipHash),
  },
  Mutation: {
    createOrganization: (_p, { input }, ctx) => payload(ctx, async () => ({ organization: await ctx.services.organizations.create(ctx.session, input) })),
    updateOrganization: (_p, { input }, ctx) => payload(ctx, async () => ({ organization: await ctx.services.organizations.update(ctx.session, input) })),
    regenerateInviteCode: (_p, { organizationId }, ctx) =>
      payload(ctx, async () => ({ organization: await ctx.services.organizations.regenerateInviteCode(ctx.session, organizationId) })),
    setMemberStatus: (_p, { input }, ctx) =>
      payload(ctx, async () => ({ membership: await ctx.services.organizations.setMemberStatus(ctx.session, input.membershipId, input.status) })),
    setMemberAdmin: (_p, { input }, ctx) =>
      payload(ctx, async () => ({ membership: await ctx.services.organizations.setMemberAdmin(ctx.session, input.membershipId, input.admin) })),
    removeMember: (_p, { membershipId }, ctx) =>
      payload(ctx, async () => (await ctx.services.organizations.removeMember(ctx.session, membershipId), { ok: true }), { ok: false }),
    leaveOrganization: (_p, { organizationId }, ctx) =>
      payload(ctx, async () => (await ctx.services.organizations.leave(ctx.session, organizationId), { ok: true }), { ok: false }),
    endSeat: (_p, { leaseId }, ctx) => payload(ctx, async () => ({ lease: await ctx.services.organizations.endSeat(ctx.session, leaseId) })),
  },
  Account: {
    organization: (account, _a, ctx) => ctx.services.organizations.ownedBy(ctx.session, account.id),
    memberships: (account, _a, ctx) => ctx.services.organizations.membershipsOf(ctx.session, account.id),
  },
  Organization: {
    inviteUrl: (org, _a, ctx) => ctx.services.organizations.inviteUrl(ctx.session, org),
    owner: (org, _a, ctx) => ctx.services.organizations.owner(ctx.session, org, ctx.loaders),
    admins: (org, _a, ctx) => ctx.services.organizations.admins(ctx.session, org),
    licenses: (org, _a, ctx) => ctx.services.organizations.sharableLicenses(ctx.session, org, ctx.loaders),
    members: (org, args, ctx) => ctx.services.organizations.members(ctx.session, org.id, args),
    auditLog: (org, args, ctx) => ctx.services.organizations.auditLog(ctx.session, org.id, args),
  },
  OrganizationSummary: {
    licenseType: (org, _a, ctx) => ctx.services.organizations.licenseType(ctx.session, org, ctx.loaders),
    adminContactEmail: (org, _a, ctx) => ctx.services.organizations.adminContactEmail(ctx.session, org, ctx.loaders),
  },
  Membership: {
    id: (m) => m.membership.id,
    organization: (m, _a, ctx) => ctx.services.organizations.membershipOrganization(ctx.session, m, ctx.loaders),
    account: async (m, _a, ctx) => summaryOf((await ctx.loaders.accountById.load(m.membership.accountId))!, m.showEmail),
    status: (m) => m.membership.status,
    isAdmin: (m) => m.membership.isAdmin,
    joinedAt: (m) => m.membership.joinedAt,
  },
  AuditEntry: {
    id: (e) => String(e.id),
    actor: async (e, _a, ctx) => {
      const actor = e.actorAccountId ? await ctx.loaders.accountById.load(e.actorAccountId) : null;
      return actor ? summaryOf(actor, true) : null;
    },
    details: (e) => (e.details ? JSON.stringify(e.details) : null),
  },
};
