import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import {
  buildSchema,
  getNamedType,
  isListType,
  isNonNullType,
  isObjectType,
  type GraphQLField,
  type GraphQLObjectType,
  type GraphQLOutputType,
  type GraphQLSchema,
} from 'graphql';
import { acquire, issueLicense, join, login, newAccount, newOrganization, PASSWORD, uniqueEmail, type NewAccount } from '../helpers/factories';
import { SHOP_TOKEN, startTestServer, type GqlResult, type TestServer } from '../helpers/server';
import { subscribe, wsClient } from '../helpers/ws';

/**
 * The authorization matrix (issue 12), generated from the SDL: every query, mutation and
 * subscription, and every field of every object type, for eleven roles. Each root field is called by
 * every role with arguments that point into one shared world (an organization with its owner, a
 * co-administrator, a member holding a seat, a blocked member; another organization; a trial user;
 * support; the shop); the document selects everything the field answers, to a depth of four, as
 * generated from the schema. What each role gets is compared with the expectations below, and so is
 * every field of every object met on the way. A schema element without an explicit expectation fails
 * the test, and so does an expectation the run never met: a new field cannot ship unreviewed.
 */

const ROLES = ['anonymous', 'unverified', 'user', 'member', 'blockedMember', 'orgAdmin', 'coAdmin', 'otherAdmin', 'support', 'shop', 'desktop'] as const;
type Role = (typeof ROLES)[number];

/** What a root field answers a role: `ok`, `null`, or the code of the refusal (GraphQL error, or the payload's first `UserError`). */
type Outcome = string;
type RootExpect = Record<Role, Outcome>;

/** Shorthand: `rest` for every role not named. */
function expectRoles(named: Partial<Record<Role, Outcome>>, rest: Outcome): RootExpect {
  // R9.3: a DESKTOP token runs only the manifest's operations, and the matrix sends documents as text:
  // every root field must refuse it (its manifest operations are tested by hash in persisted-operations).
  return { ...(Object.fromEntries(ROLES.map((r) => [r, named[r] ?? rest])) as RootExpect), desktop: 'PERSISTED_QUERY_REQUIRED' };
}
/** A field for verified accounts only: anonymous and the shop are not logged in, unverified accounts wait (R1.3). */
function verifiedOnly(named: Partial<Record<Role, Outcome>>, rest: Outcome): RootExpect {
  return expectRoles({ anonymous: 'UNAUTHENTICATED', shop: 'UNAUTHENTICATED', unverified: 'EMAIL_NOT_VERIFIED', ...named }, rest);
}
const publicField = (outcome: Outcome = 'ok'): RootExpect => expectRoles({}, outcome);

// ------------------------------------------------------------------ the world

interface World {
  org: { id: string; ownerAccountId: string };
  license: { id: string; key: string };
  org3: { id: string };
  owner: NewAccount;
  coAdmin: NewAccount;
  member: NewAccount;
  blocked: NewAccount;
  otherAdmin: NewAccount;
  user: NewAccount;
  unverified: NewAccount;
  support: NewAccount;
  memberLease: string;
  tokens: Record<Role, string | undefined>;
  accountOf: Partial<Record<Role, NewAccount>>;
}

let t: TestServer;
let w: World;
let schema: GraphQLSchema;

async function gqlOk(query: string, variables: Record<string, unknown>, token?: string): Promise<GqlResult> {
  const r = await t.gql(query, variables, { token });
  if (r.errors) throw new Error(`${query}: ${JSON.stringify(r.errors)}`);
  return r;
}

async function membershipOf(orgId: string, accountId: string): Promise<string> {
  const [row] = await t.server.ds.query<Array<{ id: string }>>('SELECT id FROM memberships WHERE organization_id = $1 AND account_id = $2', [orgId, accountId]);
  return row.id;
}

async function inviteCode(orgId: string): Promise<string> {
  const [row] = await t.server.ds.query<Array<{ invite_code: string }>>('SELECT invite_code FROM organizations WHERE id = $1', [orgId]);
  return row.invite_code;
}

/** A new active member of the organization (a target that only this probe touches). */
async function freshMember(): Promise<NewAccount & { membershipId: string }> {
  const a = await newAccount(t, { name: 'Fresh Member' });
  const joined = await join(t, a.token, await inviteCode(w.org.id));
  if (!joined.membership) throw new Error(JSON.stringify(joined));
  return { ...a, membershipId: joined.membership.id };
}

/** A new lease of the member on a device of its own. */
async function freshMemberLease(): Promise<string> {
  const got = await acquire(t, w.member.token, `member-device-${randomBytes(4).toString('hex')}`, { organizationId: w.org.id });
  if (!got.lease) throw new Error(JSON.stringify(got));
  return got.lease.id;
}

/** A token of its own for a probe that ends it (log out): a new login of the role's account. */
async function freshToken(role: Role): Promise<string | undefined> {
  const account = w.accountOf[role];
  if (!account) return w.tokens[role];
  const r = await login(t, account.email, account.password, { client: role === 'desktop' ? 'DESKTOP' : 'WEB' });
  return r.token!;
}

async function buildWorld(): Promise<World> {
  const { owner, organization, license } = await newOrganization(t, { seats: 60, type: 'COMMERCIAL', name: 'Matrix University' });
  const orgId = organization.id;
  const coAdmin = await newAccount(t, { name: 'Co Admin' });
  await join(t, coAdmin.token, organization.inviteCode);
  const setAdmin = await gqlOk(
    'mutation($i: SetMemberAdminInput!) { setMemberAdmin(input: $i) { errors { code } } }',
    {
      i: { membershipId: await membershipOf(orgId, coAdmin.account.id), admin: true },
    },
    owner.token,
  );
  expect(setAdmin.data!.setMemberAdmin.errors).toEqual([]);
  const member = await newAccount(t, { name: 'Member' });
  await join(t, member.token, organization.inviteCode);
  const blocked = await newAccount(t, { name: 'Blocked' });
  await join(t, blocked.token, organization.inviteCode);
  await gqlOk(
    'mutation($i: SetMemberStatusInput!) { setMemberStatus(input: $i) { errors { code } } }',
    {
      i: { membershipId: await membershipOf(orgId, blocked.account.id), status: 'BLOCKED' },
    },
    owner.token,
  );
  const lease = await acquire(t, member.token, 'member-device', { organizationId: orgId });
  expect(lease.errors).toEqual([]);
  const other = await newOrganization(t, { seats: 3, type: 'COMMERCIAL', name: 'Other Org' });
  // A full one-seat pool with the member waiting in line (WaitlistEntry).
  const third = await newOrganization(t, { seats: 1, type: 'COMMERCIAL', name: 'Full Org' });
  const holder = await newAccount(t);
  await join(t, holder.token, third.organization.inviteCode);
  expect((await acquire(t, holder.token, 'holder-device', { organizationId: third.organization.id })).errors).toEqual([]);
  await join(t, member.token, third.organization.inviteCode);
  const waiting = await gqlOk(
    'mutation($i: JoinWaitlistInput!) { joinWaitlist(input: $i) { errors { code } } }',
    {
      i: { organizationId: third.organization.id, deviceId: 'member-device-2', platform: 'WINDOWS' },
    },
    member.token,
  );
  expect(waiting.data!.joinWaitlist.errors).toEqual([]);
  const user = await newAccount(t, { name: 'Trial User' });
  expect((await gqlOk('mutation { requestTrial { errors { code } } }', {}, user.token)).data!.requestTrial.errors).toEqual([]);
  const unverified = await newAccount(t, { verified: false, name: 'Unverified' });
  const support = await newAccount(t, { name: 'Support' });
  await t.server.services.accounts.grantSupport(support.email);
  const desktop = await login(t, member.email, member.password, { client: 'DESKTOP' });
  const accountOf: World['accountOf'] = {
    unverified,
    user,
    member,
    blockedMember: blocked,
    orgAdmin: owner,
    coAdmin,
    otherAdmin: other.owner,
    support,
    desktop: member,
  };
  const tokens = {
    anonymous: undefined,
    shop: SHOP_TOKEN,
    ...Object.fromEntries(Object.entries(accountOf).map(([r, a]) => [r, a.token])),
    desktop: desktop.token!,
  } as Record<Role, string | undefined>;
  return {
    org: { id: orgId, ownerAccountId: owner.account.id },
    license,
    org3: { id: third.organization.id },
    owner,
    coAdmin,
    member,
    blocked,
    otherAdmin: other.owner,
    user,
    unverified,
    support,
    memberLease: lease.lease!.id,
    tokens,
    accountOf,
  };
}

// ------------------------------------------------------------------ root fields: arguments and expectations

interface Probe {
  /** Variables for this role's call (may make targets that only this call touches). */
  vars?: (role: Role) => Promise<Record<string, unknown>> | Record<string, unknown>;
  /** The argument list as written in the document, with its variable definitions. */
  args?: { defs: string; call: string };
  expect: RootExpect;
  /** A token of its own (the call ends it). */
  ownToken?: boolean;
  /** Runs after the probes of a lower rank (it changes the world for the role): 1 late, 2 last of all. */
  late?: 1 | 2;
  /** A subscription that pushes only on a change: what makes the change once subscribed. */
  trigger?: (variables: Record<string, unknown>) => Promise<void>;
}

const UNKNOWN_KEY = 'R-000-000-000-000-000-000';
const ADMINS = { orgAdmin: 'ok', coAdmin: 'ok', support: 'ok' } as const;

const PROBES: Record<string, Probe> = {
  // Queries
  'Query.me': { expect: expectRoles({ anonymous: 'null', shop: 'null' }, 'ok') },
  'Query.license': {
    args: { defs: '($id: ID!)', call: '(id: $id)' },
    vars: () => ({ id: w.license.id }),
    expect: verifiedOnly({ orgAdmin: 'ok', support: 'ok' }, 'null'),
  },
  'Query.licenseStatus': { args: { defs: '($d: String!)', call: '(deviceId: $d)' }, vars: () => ({ d: 'member-device' }), expect: verifiedOnly({}, 'ok') },
  'Query.offlineSigningKey': { expect: publicField() },
  'Query.organization': {
    args: { defs: '($id: ID!)', call: '(id: $id)' },
    vars: () => ({ id: w.org.id }),
    expect: verifiedOnly(ADMINS, 'NOT_FOUND'),
  },
  'Query.invitation': {
    args: { defs: '($c: String!)', call: '(code: $c)' },
    vars: async () => ({ c: await inviteCode(w.org.id) }),
    expect: verifiedOnly({}, 'ok'),
  },
  'Query.myLeases': { expect: verifiedOnly({}, 'ok') },
  'Query.myWaitlist': { expect: verifiedOnly({}, 'ok') },

  // Accounts
  'Mutation.register': {
    args: { defs: '($i: RegisterInput!)', call: '(input: $i)' },
    vars: () => ({ i: { email: uniqueEmail('matrix'), password: PASSWORD, name: 'New Person', language: 'EN' } }),
    expect: publicField(),
  },
  'Mutation.verifyEmail': { args: { defs: '($t: String!)', call: '(token: $t)' }, vars: () => ({ t: 'not-a-token' }), expect: publicField('INVALID_TOKEN') },
  'Mutation.resendVerificationEmail': { expect: expectRoles({ anonymous: 'UNAUTHENTICATED', shop: 'UNAUTHENTICATED' }, 'ok') },
  'Mutation.login': {
    args: { defs: '($i: LoginInput!)', call: '(input: $i)' },
    vars: () => ({ i: { email: w.user.email, password: PASSWORD, client: 'WEB' } }),
    expect: publicField(),
  },
  'Mutation.logout': { ownToken: true, expect: expectRoles({ anonymous: 'UNAUTHENTICATED', shop: 'UNAUTHENTICATED' }, 'ok') },
  'Mutation.logoutEverywhere': { ownToken: true, late: 2, expect: expectRoles({ anonymous: 'UNAUTHENTICATED', shop: 'UNAUTHENTICATED' }, 'ok') },
  'Mutation.requestPasswordReset': { args: { defs: '($e: String!)', call: '(email: $e)' }, vars: () => ({ e: uniqueEmail('nobody') }), expect: publicField() },
  'Mutation.resetPassword': {
    args: { defs: '($i: ResetPasswordInput!)', call: '(input: $i)' },
    vars: () => ({ i: { token: 'not-a-token', newPassword: 'a perfectly fine passphrase' } }),
    expect: publicField('INVALID_TOKEN'),
  },
  'Mutation.updateProfile': {
    args: { defs: '($i: UpdateProfileInput!)', call: '(input: $i)' },
    vars: () => ({ i: { language: 'EN' } }),
    expect: verifiedOnly({}, 'ok'),
  },
  'Mutation.advanceTestClock': { args: { defs: '', call: '(seconds: 0)' }, expect: publicField() },

  // Licenses
  'Mutation.issueLicense': {
    args: { defs: '($i: IssueLicenseInput!)', call: '(input: $i)' },
    vars: () => ({
      i: {
        type: 'COMMERCIAL',
        seats: 1,
        platforms: ['WINDOWS'],
        purchaserEmail: uniqueEmail('buyer'),
        orderReference: `matrix-${randomBytes(6).toString('hex')}`,
      },
    }),
    expect: expectRoles({ anonymous: 'UNAUTHENTICATED', shop: 'ok' }, 'FORBIDDEN'),
  },
  'Mutation.renewLicense': {
    args: { defs: '($i: RenewLicenseInput!)', call: '(input: $i)' },
    vars: async () => ({ i: { orderReference: (await issueLicense(t)).orderReference, seats: 2 } }),
    expect: expectRoles({ anonymous: 'UNAUTHENTICATED', shop: 'ok' }, 'FORBIDDEN'),
  },
  'Mutation.revokeLicense': {
    args: { defs: '($i: RevokeLicenseInput!)', call: '(input: $i)' },
    vars: async () => ({ i: { orderReference: (await issueLicense(t)).orderReference, reason: 'REFUND' } }),
    expect: expectRoles({ anonymous: 'UNAUTHENTICATED', shop: 'ok' }, 'FORBIDDEN'),
  },
  'Mutation.createShopHandoff': { expect: verifiedOnly({}, 'ok') },
  'Mutation.redeemCode': {
    args: { defs: '($c: String!)', call: '(code: $c)' },
    vars: () => ({ c: UNKNOWN_KEY }),
    expect: verifiedOnly({}, 'INVALID_LICENSE_KEY'),
  },
  'Mutation.validateOfflineRequest': {
    args: { defs: '($r: String!)', call: '(request: $r)' },
    vars: () => ({ r: 'not-an-offline-request' }),
    expect: verifiedOnly({}, 'BAD_USER_INPUT'),
  },
  'Mutation.requestTrial': {
    late: 1,
    // The world's trial user had one; the owners hold active licenses (R5.2); the rest may start one.
    expect: verifiedOnly({ user: 'TRIAL_NOT_ALLOWED', orgAdmin: 'TRIAL_NOT_ALLOWED', otherAdmin: 'TRIAL_NOT_ALLOWED', desktop: 'TRIAL_NOT_ALLOWED' }, 'ok'),
  },

  // Organizations
  'Mutation.createOrganization': {
    args: { defs: '($i: CreateOrganizationInput!)', call: '(input: $i)' },
    vars: () => ({ i: { name: 'Another One' } }),
    expect: verifiedOnly({ orgAdmin: 'ORGANIZATION_EXISTS', otherAdmin: 'ORGANIZATION_EXISTS' }, 'NOT_SHARABLE'),
  },
  'Mutation.updateOrganization': {
    args: { defs: '($i: UpdateOrganizationInput!)', call: '(input: $i)' },
    vars: () => ({ i: { organizationId: w.org.id, maxOfflineDays: 30 } }),
    expect: verifiedOnly({ orgAdmin: 'ok', coAdmin: 'ok' }, 'NOT_FOUND'),
  },
  'Mutation.regenerateInviteCode': {
    args: { defs: '($o: ID!)', call: '(organizationId: $o)' },
    vars: () => ({ o: w.org.id }),
    expect: verifiedOnly({ orgAdmin: 'ok', coAdmin: 'ok' }, 'NOT_FOUND'),
  },
  'Mutation.setMemberStatus': {
    args: { defs: '($i: SetMemberStatusInput!)', call: '(input: $i)' },
    vars: async () => ({ i: { membershipId: (await freshMember()).membershipId, status: 'BLOCKED' } }),
    expect: verifiedOnly({ orgAdmin: 'ok', coAdmin: 'ok' }, 'NOT_FOUND'),
  },
  'Mutation.setMemberAdmin': {
    args: { defs: '($i: SetMemberAdminInput!)', call: '(input: $i)' },
    vars: async () => ({ i: { membershipId: (await freshMember()).membershipId, admin: true } }),
    expect: verifiedOnly({ orgAdmin: 'ok', coAdmin: 'ADMIN_PROTECTED' }, 'NOT_FOUND'),
  },
  'Mutation.removeMember': {
    args: { defs: '($m: ID!)', call: '(membershipId: $m)' },
    vars: async () => ({ m: (await freshMember()).membershipId }),
    expect: verifiedOnly({ orgAdmin: 'ok', coAdmin: 'ok' }, 'NOT_FOUND'),
  },
  'Mutation.leaveOrganization': {
    late: 1,
    args: { defs: '($o: ID!)', call: '(organizationId: $o)' },
    vars: () => ({ o: w.org.id }),
    // The owner is no member; a blocked member may not leave (leaving and rejoining would undo the block).
    expect: verifiedOnly({ member: 'ok', coAdmin: 'ok', blockedMember: 'MEMBERSHIP_BLOCKED', desktop: 'NOT_FOUND' }, 'NOT_FOUND'),
  },
  'Mutation.endSeat': {
    args: { defs: '($l: ID!)', call: '(leaseId: $l)' },
    vars: async () => ({ l: await freshMemberLease() }),
    expect: verifiedOnly({ orgAdmin: 'ok', coAdmin: 'ok' }, 'NOT_FOUND'),
  },

  // Seats
  'Mutation.acquireSeat': {
    args: { defs: '($i: AcquireSeatInput!)', call: '(input: $i)' },
    vars: (role) => ({ i: { deviceId: `acquire-${role}-${randomBytes(3).toString('hex')}`, platform: 'WINDOWS' } }),
    // Support holds no license and belongs nowhere; a blocked member is told so (R3.4).
    expect: verifiedOnly({ support: 'NO_LICENSE', blockedMember: 'MEMBERSHIP_BLOCKED' }, 'ok'),
  },
  'Mutation.heartbeatSeat': {
    args: { defs: '($l: ID!)', call: '(leaseId: $l)' },
    vars: async () => ({ l: await freshMemberLease() }),
    expect: verifiedOnly({ member: 'ok', desktop: 'ok' }, 'NOT_FOUND'),
  },
  'Mutation.releaseSeat': {
    args: { defs: '($i: ReleaseSeatInput!)', call: '(input: $i)' },
    vars: async () => ({ i: { leaseId: await freshMemberLease() } }),
    expect: verifiedOnly({ member: 'ok', desktop: 'ok' }, 'NOT_FOUND'),
  },
  'Mutation.reserveOffline': {
    args: { defs: '($i: ReserveOfflineInput!)', call: '(input: $i)' },
    vars: async () => ({ i: { leaseId: await freshMemberLease(), days: 1 } }),
    expect: verifiedOnly({ member: 'ok', desktop: 'ok' }, 'NOT_FOUND'),
  },

  // Wait-list
  'Mutation.joinWaitlist': {
    args: { defs: '($i: JoinWaitlistInput!)', call: '(input: $i)' },
    vars: () => ({ i: { organizationId: w.org3.id, deviceId: 'member-device-2', platform: 'WINDOWS' } }),
    expect: verifiedOnly({ member: 'ALREADY_ON_WAITLIST', desktop: 'ALREADY_ON_WAITLIST' }, 'NOT_FOUND'),
  },
  'Mutation.leaveWaitlist': {
    late: 1,
    args: { defs: '($o: ID!)', call: '(organizationId: $o)' },
    vars: () => ({ o: w.org3.id }),
    // The member's desktop comes after the member in the run: the entry is gone by then.
    expect: verifiedOnly({ member: 'ok' }, 'NOT_FOUND'),
  },

  // Support (R8): the role, on a verified account; everyone else FORBIDDEN
  'Query.supportAccount': {
    args: { defs: '($q: String!)', call: '(query: $q)' },
    vars: () => ({ q: w.member.email }),
    expect: verifiedOnly({ support: 'ok' }, 'FORBIDDEN'),
  },
  'Mutation.supportReleaseSeats': {
    args: { defs: '($i: SupportReleaseSeatsInput!)', call: '(input: $i)' },
    vars: async () => ({ i: { accountId: w.member.account.id, leaseId: await freshMemberLease() } }),
    expect: verifiedOnly({ support: 'ok' }, 'FORBIDDEN'),
  },
  'Mutation.supportVerifyEmail': {
    args: { defs: '($a: ID!)', call: '(accountId: $a)' },
    vars: async () => ({ a: (await newAccount(t, { verified: false })).account.id }),
    expect: verifiedOnly({ support: 'ok' }, 'FORBIDDEN'),
  },
  'Mutation.supportClearLoginBlock': {
    args: { defs: '($a: ID!)', call: '(accountId: $a)' },
    vars: () => ({ a: w.user.account.id }),
    expect: verifiedOnly({ support: 'ok' }, 'FORBIDDEN'),
  },
  'Mutation.supportTransferLicense': {
    args: { defs: '($i: SupportTransferLicenseInput!)', call: '(input: $i)' },
    // A license of nobody's, moved into a fresh account: only support's call moves it.
    vars: async () => ({ i: { licenseId: (await issueLicense(t)).id, toAccountId: (await newAccount(t)).account.id } }),
    expect: verifiedOnly({ support: 'ok' }, 'FORBIDDEN'),
  },
  'Mutation.supportResendLicenseKey': {
    args: { defs: '($l: ID!)', call: '(licenseId: $l)' },
    vars: () => ({ l: w.license.id }),
    expect: verifiedOnly({ support: 'ok' }, 'FORBIDDEN'),
  },
  'Mutation.supportDeleteAccount': {
    args: { defs: '($a: ID!)', call: '(accountId: $a)' },
    vars: async () => ({ a: (await newAccount(t)).account.id }),
    expect: verifiedOnly({ support: 'ok' }, 'FORBIDDEN'),
  },

  // Subscriptions (over the WebSocket: `ok` is a first event)
  'Subscription.seatUsageChanged': {
    args: { defs: '($o: ID!)', call: '(organizationId: $o)' },
    vars: () => ({ o: w.org.id }),
    expect: verifiedOnly(ADMINS, 'NOT_FOUND'),
  },
  'Subscription.leaseChanged': {
    args: { defs: '($l: ID!)', call: '(leaseId: $l)' },
    vars: async () => ({ l: await freshMemberLease() }),
    // R7.3 pushes when the lease ends: the owner ends it.
    trigger: async (v) => {
      await gqlOk('mutation($l: ID!) { endSeat(leaseId: $l) { errors { code } } }', { l: v.l }, w.owner.token);
    },
    expect: verifiedOnly({ member: 'ok', desktop: 'ok' }, 'NOT_FOUND'),
  },
  'Subscription.waitlistChanged': {
    args: { defs: '($o: ID!)', call: '(organizationId: $o)' },
    vars: () => ({ o: w.org3.id }),
    expect: verifiedOnly({ member: 'ok', desktop: 'ok' }, 'NOT_FOUND'),
  },
};

// ------------------------------------------------------------------ object fields: expectations

/** What a field of an object shows the role that reached the object: `value`, `null`, or an error code. */
type FieldOutcome = string; // 'value', 'null', or an error code
/**
 * PARENT: no rule of its own; it shows (a value, or null where the schema allows) to whoever was
 * handed the object. A map: what each role may see (roles that never reach the object are not listed).
 */
const PARENT = 'PARENT' as const;
/** A rule that depends on the object itself: what `role` may see of this `parent`. */
type ObjectRule = (role: Role, parent: Record<string, unknown>) => FieldOutcome[];
type FieldExpect = typeof PARENT | Partial<Record<Role, FieldOutcome[]>> | ObjectRule;

/** Owner of each license by its public ID, read after the run. */
const licenseOwners = new Map<string, string | null>();

const FIELDS: Record<string, FieldExpect> = {
  // Keys: the owner's, support's, and the shop's (in what it issues); co-administrators and members
  // see the organization's licenses without them.
  'License.key': (role, license) => {
    if (role === 'shop' || role === 'support') return ['value'];
    const owner = licenseOwners.get(String(license.licenseId));
    // The `login` probe answers the account it logged in to (the world's trial user) with its own data, keys included.
    if (owner === w.user.account.id) return ['value'];
    return owner !== undefined && owner === w.accountOf[role]?.account.id ? ['value'] : ['null'];
  },
  // A license's owner: the address for the owner and support.
  'License.owner': PARENT,
  // Summaries of accounts: the address shows only where the service that handed them out decided so.
  'AccountSummary.email': {
    anonymous: ['value'], // the account just registered, in its own payload
    unverified: ['value'],
    user: ['value', 'null'],
    member: ['value', 'null'],
    desktop: ['value', 'null'],
    blockedMember: ['value', 'null'],
    // Members' addresses in member lists; a lease's holder (activeLeases) shows its address to itself and support only.
    orgAdmin: ['value', 'null'],
    coAdmin: ['value', 'null'],
    otherAdmin: ['value', 'null'],
    support: ['value'],
    // The shop's `login` probe answers the logged-in account's own data.
    shop: ['value', 'null'],
  },
  // Whom a member contacts (R3.6): the owner's address, on the summary a member, joiner or seat holder is handed.
  'OrganizationSummary.adminContactEmail': PARENT,
};

/** Every other field: PARENT, listed explicitly so that a new field is a decision. */
const PARENT_FIELDS = `
Account: id userId email name language emailVerified roles createdAt licenses seatPool organization memberships trial leases
SupportReleaseSeatsPayload: count errors
SupportAccountPayload: account errors
AccountSummary: userId name
RegisterPayload: token account errors
VerifyEmailPayload: account errors
LoginPayload: token account errors
OkPayload: ok errors
LogoutEverywherePayload: endedLeases revokedTokens errors
UpdateProfilePayload: account errors
UserError: code message field reason
AdvanceTestClockPayload: now errors
License: id licenseId type seats platforms expiresAt status sharable offlineCapable orderReference redeemedAt
SeatPoolPeriod: from until seats
SeatPool: total schedule
Entitlement: canUse canSave license owner expiresAt expiresSoon trialDaysRemaining token
IssueLicensePayload: license errors
LicensePayload: license errors
CreateShopHandoffPayload: token expiresAt errors
RedeemCodePayload: license alreadyRedeemedByYou errors membership
ValidateOfflineRequestPayload: responseFile lease errors
Organization: id name inviteCode inviteUrl owner admins allowedEmailDomains maxOfflineDays licenses members auditLog createdAt seatUsage activeLeases
OrganizationSummary: id name licenseType
Membership: id organization account status isAdmin joinedAt usingSeat
MembershipConnection: edges pageInfo totalCount
MembershipEdge: cursor node
PageInfo: hasNextPage endCursor
AuditEntry: id action actor targetUserId details createdAt
AuditEntryConnection: edges pageInfo totalCount
AuditEntryEdge: cursor node
OrganizationPayload: organization errors
MembershipPayload: membership errors
SeatUsage: organizationId total inUse free updatedAt
SeatLease: id kind platform acquiredAt lastHeartbeatAt expiresAt reservedUntil heartbeatIntervalSeconds endedAt endReason license organization account entitlement
AcquireSeatPayload: lease seatUsage errors
SeatLeasePayload: lease errors
TrialStatus: license activeDaysUsed activeDaysTotal expiresAt expired
RequestTrialPayload: license errors
WaitlistEntry: id organization platform status position holdUntil createdAt
JoinWaitlistPayload: position entry errors
`;
for (const line of PARENT_FIELDS.trim().split('\n')) {
  const [type, fields] = line.split(':');
  for (const f of fields.trim().split(/\s+/)) FIELDS[`${type}.${f}`] ??= PARENT;
}

/**
 * Roles that must be seen to reach each object type: an object one of them should reach but did not
 * means a probe lost its way (and the field rules would go untested).
 */
const MUST_REACH: Record<string, Role[]> = {
  Organization: ['orgAdmin', 'coAdmin', 'support'],
  License: ['user', 'member', 'orgAdmin', 'coAdmin', 'support', 'shop'],
  SeatLease: ['member', 'orgAdmin', 'coAdmin', 'support'],
  WaitlistEntry: ['member'],
  TrialStatus: ['user'],
  AuditEntry: ['orgAdmin', 'coAdmin', 'support'],
  Entitlement: ['member', 'user'],
};

// ------------------------------------------------------------------ documents from the SDL

/** The selection of everything `type` answers, to `depth` levels of objects (fields with required arguments left out). */
function selectionOf(type: GraphQLOutputType, depth: number): string {
  const named = getNamedType(type);
  if (!isObjectType(named)) return '';
  const parts: string[] = ['__typename'];
  for (const field of Object.values(named.getFields())) {
    if (field.args.some((a) => isNonNullType(a.type) && a.defaultValue === undefined)) continue;
    const inner = getNamedType(field.type);
    if (isObjectType(inner)) {
      if (depth > 0) parts.push(`${field.name} { ${selectionOf(field.type, depth - 1)} }`);
    } else parts.push(field.name);
  }
  return parts.join(' ');
}

function documentFor(rootType: 'Query' | 'Mutation' | 'Subscription', field: GraphQLField<unknown, unknown>, probe: Probe): string {
  const op = rootType === 'Query' ? 'query' : rootType === 'Mutation' ? 'mutation' : 'subscription';
  const sel = selectionOf(field.type, rootType === 'Subscription' ? 2 : 4);
  return `${op}${probe.args?.defs ?? ''} { ${field.name}${probe.args?.call ?? ''}${sel ? ` { ${sel} }` : ''} }`;
}

// ------------------------------------------------------------------ observing

type Observations = Map<string, Map<Role, Set<FieldOutcome>>>;
/** For fields whose rule reads the object: every (role, object, outcome) seen. */
const objectObservations: Array<{ key: string; role: Role; parent: Record<string, unknown>; outcome: FieldOutcome }> = [];

function record(obs: Observations, key: string, role: Role, outcome: FieldOutcome): void {
  let byRole = obs.get(key);
  if (!byRole) obs.set(key, (byRole = new Map()));
  let set = byRole.get(role);
  if (!set) byRole.set(role, (set = new Set()));
  set.add(outcome);
}

/** Walks an answer with the schema, recording what every field of every object showed. */
function observe(
  obs: Observations,
  role: Role,
  type: GraphQLObjectType,
  value: Record<string, unknown>,
  pathSoFar: Array<string | number>,
  errors: GqlResult['errors'],
): void {
  for (const field of Object.values(type.getFields())) {
    if (!(field.name in value)) continue;
    const v = value[field.name];
    const here = [...pathSoFar, field.name];
    const error = errors?.find((e) => JSON.stringify((e as { path?: unknown[] }).path) === JSON.stringify(here));
    const key = `${type.name}.${field.name}`;
    const outcome = v === null || v === undefined ? (error ? String(error.extensions?.code) : 'null') : 'value';
    record(obs, key, role, outcome);
    if (typeof FIELDS[key] === 'function') objectObservations.push({ key, role, parent: value, outcome });
    if (outcome !== 'value') continue;
    const inner = getNamedType(field.type);
    if (!isObjectType(inner)) continue;
    let unwrapped = field.type;
    if (isNonNullType(unwrapped)) unwrapped = unwrapped.ofType;
    if (isListType(unwrapped)) (v as Array<Record<string, unknown>>).forEach((item, i) => item && observe(obs, role, inner, item, [...here, i], errors));
    else observe(obs, role, inner, v as Record<string, unknown>, here, errors);
  }
}

function rootOutcome(result: GqlResult, field: string): Outcome {
  const error = result.errors?.find((e) => (e as { path?: unknown[] }).path?.[0] === field) ?? result.errors?.[0];
  const value = result.data?.[field] as Record<string, unknown> | null | undefined;
  if (error && (value === null || value === undefined)) return String(error.extensions?.code);
  if (value === null || value === undefined) return 'null';
  const userErrors = value.errors as Array<{ code: string }> | undefined;
  if (userErrors && userErrors.length > 0) return userErrors[0].code;
  return 'ok';
}

// ------------------------------------------------------------------ the run

const roots: Array<{ rootType: 'Query' | 'Mutation' | 'Subscription'; field: GraphQLField<unknown, unknown> }> = [];
const outcomes = new Map<string, Partial<Record<Role, Outcome>>>();
const observations: Observations = new Map();

beforeAll(async () => {
  const dir = path.join(__dirname, '..', '..', 'schema');
  schema = buildSchema(
    fs
      .readdirSync(dir)
      .filter((f) => f.endsWith('.graphql'))
      .map((f) => fs.readFileSync(path.join(dir, f), 'utf8'))
      .join('\n'),
  );
  for (const rootType of ['Query', 'Mutation', 'Subscription'] as const) {
    for (const field of Object.values((schema.getType(rootType) as GraphQLObjectType).getFields())) roots.push({ rootType, field });
  }
  t = await startTestServer();
  w = await buildWorld();

  const rank = (r: (typeof roots)[number]) => PROBES[`${r.rootType}.${r.field.name}`]?.late ?? 0;
  const ordered = [...roots].sort((a, b) => rank(a) - rank(b));
  for (const { rootType, field } of ordered) {
    const key = `${rootType}.${field.name}`;
    const probe = PROBES[key];
    if (!probe) continue; // reported by the completeness test
    const document = documentFor(rootType, field, probe);
    const byRole: Partial<Record<Role, Outcome>> = {};
    for (const role of ROLES) {
      const variables = probe.vars ? await probe.vars(role) : {};
      const token = probe.ownToken ? await freshToken(role) : w.tokens[role];
      let result: GqlResult;
      if (rootType === 'Subscription') result = await subscribeOnce(document, variables, token, field.name, probe.trigger);
      else result = await t.gql(document, variables, { token });
      if (result.status >= 500) throw new Error(`${key} as ${role}: HTTP ${result.status} ${JSON.stringify(result)}`);
      byRole[role] = rootOutcome(result, field.name);
      const rootObject = schema.getType(rootType) as GraphQLObjectType;
      if (result.data) observe(observations, role, rootObject, result.data, [], result.errors);
    }
    outcomes.set(key, byRole);
  }
  for (const row of await t.server.ds.query<Array<{ license_id: string; owner_account_id: string | null }>>(
    'SELECT license_id, owner_account_id FROM licenses',
  )) {
    licenseOwners.set(row.license_id, row.owner_account_id);
  }
}, 600_000);

afterAll(async () => {
  await t?.stop();
});

/** One subscription over the WebSocket: its first event, or its error. */
async function subscribeOnce(
  document: string,
  variables: Record<string, unknown>,
  token: string | undefined,
  field: string,
  trigger?: (variables: Record<string, unknown>) => Promise<void>,
): Promise<GqlResult> {
  const client = wsClient(t.url, token);
  try {
    const sub = subscribe<Record<string, unknown>>(client, document, variables, field);
    if (trigger) await trigger(variables);
    const deadline = Date.now() + 10_000;
    while (sub.events.length === 0 && sub.errors.length === 0) {
      if (Date.now() > deadline) throw new Error(`no answer to ${document}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    sub.close();
    if (sub.events.length > 0) return { status: 200, data: { [field]: sub.events[0] } };
    const first = sub.errors[0];
    const list = Array.isArray(first) ? first : [first];
    return { status: 200, errors: list as GqlResult['errors'], data: { [field]: null } };
  } finally {
    await client.dispose();
  }
}

// ------------------------------------------------------------------ the verdicts

test('every root field of the schema has an explicit expectation for every role, and nothing else is expected', () => {
  const fields = roots.map((r) => `${r.rootType}.${r.field.name}`).sort();
  expect(fields.length).toBeGreaterThan(35);
  expect(Object.keys(PROBES).sort()).toEqual(fields);
});

test('every field of every object type has an explicit expectation, and none names a field that is gone', () => {
  const all: string[] = [];
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type) || type.name.startsWith('__') || ['Query', 'Mutation', 'Subscription'].includes(type.name)) continue;
    for (const f of Object.keys(type.getFields())) all.push(`${type.name}.${f}`);
  }
  expect(all.filter((k) => !FIELDS[k])).toEqual([]);
  expect(Object.keys(FIELDS).filter((k) => !all.includes(k))).toEqual([]);
});

test.each(Object.keys(PROBES))('%s answers each role as expected', (key) => {
  expect(outcomes.get(key)).toEqual(PROBES[key].expect);
});

test('every field of every object answers each role that reached it as expected', () => {
  const wrong: string[] = [];
  for (const [key, byRole] of observations) {
    if (key.startsWith('Query.') || key.startsWith('Mutation.') || key.startsWith('Subscription.')) continue;
    const expected = FIELDS[key];
    const [typeName, fieldName] = key.split('.');
    const field = (schema.getType(typeName) as GraphQLObjectType).getFields()[fieldName];
    if (typeof expected === 'function') continue; // judged object by object below
    for (const [role, seen] of byRole) {
      const allowed = expected === PARENT ? (isNonNullType(field.type) ? ['value'] : ['value', 'null']) : expected?.[role];
      if (!allowed) {
        wrong.push(`${key} reached by ${role}, who has no expectation (saw ${[...seen].join(', ')})`);
        continue;
      }
      const bad = [...seen].filter((s) => !allowed.includes(s));
      if (bad.length) wrong.push(`${key} as ${role}: saw ${bad.join(', ')}, expected one of ${allowed.join(', ')}`);
    }
  }
  for (const o of objectObservations) {
    const allowed = (FIELDS[o.key] as ObjectRule)(o.role, o.parent);
    if (!allowed.includes(o.outcome))
      wrong.push(`${o.key} as ${o.role} of ${JSON.stringify(o.parent).slice(0, 120)}: saw ${o.outcome}, expected ${allowed.join(', ')}`);
  }
  expect(wrong).toEqual([]);
});

test('every object type and field was reached by the run (an expectation never met tests nothing)', () => {
  const unreached = Object.keys(FIELDS).filter((k) => !observations.has(k));
  expect(unreached).toEqual([]);
  const missing: string[] = [];
  for (const [type, roles] of Object.entries(MUST_REACH)) {
    const seen = observations.get(`${type}.id`) ?? observations.get(`${type}.canUse`) ?? observations.get(`${type}.activeDaysUsed`);
    for (const role of roles) if (!seen?.get(role)?.has('value')) missing.push(`${type} by ${role}`);
  }
  expect(missing).toEqual([]);
});
