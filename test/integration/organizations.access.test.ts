import { randomUUID } from 'node:crypto';
import { join, newAccount, newOrganization, type NewAccount } from '../helpers/factories';
import { startTestServer, type GqlResult, type TestServer } from '../helpers/server';

/**
 * Who may see and change an organization (R3.4, R3.5, R3.6), members' pages (R3.4) and the audit
 * log (R8.2). Administrators are the owner and active co-administrators; support reads only;
 * everyone else gets NOT_FOUND, the very answer a non-existent organization gets.
 */

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t.stop();
});

// ------------------------------------------------------------------ documents

// Page sizes go in variables, as clients send them (a literal `first: 100` counts 100 times against the cost limit).
const ORGANIZATION = `query($id: ID!, $n: Int = 100) { organization(id: $id) {
  id name inviteCode owner { userId email } admins { userId email }
  members(first: $n) { totalCount edges { node { id status isAdmin account { userId email } } } }
  auditLog(first: $n) { totalCount edges { node { action actor { userId } targetUserId } } }
} }`;

const MEMBERS = `query($id: ID!, $first: Int, $after: String, $status: MembershipStatus) { organization(id: $id) {
  members(first: $first, after: $after, status: $status) {
    totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id status joinedAt account { userId email } } }
  }
} }`;

const AUDIT = `query($id: ID!, $first: Int, $after: String) { organization(id: $id) {
  auditLog(first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id action actor { userId } targetUserId details createdAt } }
  }
} }`;

const UPDATE = `mutation($input: UpdateOrganizationInput!) { updateOrganization(input: $input) {
  organization { id name allowedEmailDomains maxOfflineDays } errors { code reason field } } }`;
const REGENERATE = `mutation($id: ID!) { regenerateInviteCode(organizationId: $id) { organization { id inviteCode inviteUrl } errors { code reason field } } }`;
const SET_STATUS = `mutation($input: SetMemberStatusInput!) { setMemberStatus(input: $input) {
  membership { id status isAdmin account { userId email } } errors { code reason field } } }`;
const SET_ADMIN = `mutation($input: SetMemberAdminInput!) { setMemberAdmin(input: $input) {
  membership { id status isAdmin account { userId email } } errors { code reason field } } }`;
const REMOVE = `mutation($id: ID!) { removeMember(membershipId: $id) { ok errors { code reason field } } }`;
const LEAVE = `mutation($id: ID!) { leaveOrganization(organizationId: $id) { ok errors { code reason field } } }`;
const MY_MEMBERSHIPS = `{ me { organization { id } memberships { id status isAdmin organization { id name licenseType adminContactEmail } account { userId email } } } }`;

// ------------------------------------------------------------------ helpers

/** Creates `n` verified accounts, `batch` at a time (registration hashes passwords and sends mail). */
async function accounts(n: number, batch = 10): Promise<NewAccount[]> {
  const out: NewAccount[] = [];
  for (let i = 0; i < n; i += batch) {
    out.push(...(await Promise.all(Array.from({ length: Math.min(batch, n - i) }, () => newAccount(t)))));
  }
  return out;
}

async function inviteCodeOf(organizationId: string): Promise<string> {
  const [row] = await t.server.ds.query('SELECT invite_code FROM organizations WHERE id = $1', [organizationId]);
  return row.invite_code;
}

/** Joins with the organization's current invite code; returns the membership id. */
async function joinOrg(account: NewAccount, organizationId: string): Promise<string> {
  const r = await join(t, account.token, await inviteCodeOf(organizationId));
  if (r.errors.length || !r.membership) throw new Error(`join failed: ${JSON.stringify(r)}`);
  return r.membership.id;
}

async function mustSetStatus(token: string, membershipId: string, status: 'ACTIVE' | 'BLOCKED'): Promise<void> {
  const r = await t.gql(SET_STATUS, { input: { membershipId, status } }, { token });
  if (r.errors || r.data!.setMemberStatus.errors.length) throw new Error(`setMemberStatus failed: ${JSON.stringify(r)}`);
}

async function mustSetAdmin(token: string, membershipId: string, admin: boolean): Promise<void> {
  const r = await t.gql(SET_ADMIN, { input: { membershipId, admin } }, { token });
  if (r.errors || r.data!.setMemberAdmin.errors.length) throw new Error(`setMemberAdmin failed: ${JSON.stringify(r)}`);
}

async function makeSupport(account: NewAccount): Promise<void> {
  await t.server.ds.query("UPDATE accounts SET roles = '{USER,SUPPORT}' WHERE id = $1", [account.account.id]);
}

/** Everything an organization operation could change. */
async function snapshot(organizationId: string) {
  const ds = t.server.ds;
  return {
    organization: await ds.query('SELECT * FROM organizations WHERE id = $1', [organizationId]),
    memberships: await ds.query('SELECT * FROM memberships WHERE organization_id = $1 ORDER BY id', [organizationId]),
    audit: await ds.query('SELECT * FROM audit_log WHERE organization_id = $1 ORDER BY id', [organizationId]),
  };
}
type Snapshot = Awaited<ReturnType<typeof snapshot>>;

async function membershipRow(id: string): Promise<{ status: string; is_admin: boolean; account_id: string } | undefined> {
  const [row] = await t.server.ds.query('SELECT status, is_admin, account_id FROM memberships WHERE id = $1', [id]);
  return row;
}

function gqlCodes(r: GqlResult): unknown[] | undefined {
  return r.errors?.map((e) => e.extensions?.code);
}

// ------------------------------------------------------------------ a fixture: one organization and one caller of each kind

const CALLERS = ['owner', 'co-admin', 'member', 'blocked member', 'blocked co-admin', 'stranger', 'support', 'anonymous'] as const;
type Caller = (typeof CALLERS)[number];

interface Fixture {
  organizationId: string;
  people: Record<Exclude<Caller, 'anonymous'>, NewAccount>;
  membershipIds: Partial<Record<Caller, string>>;
}

async function newFixture(): Promise<Fixture> {
  const [owner, coAdmin, member, blocked, blockedCoAdmin, stranger, support] = await accounts(7, 7);
  const { organization } = await newOrganization(t, { owner });
  const organizationId = organization.id;
  const membershipIds: Fixture['membershipIds'] = {
    'co-admin': await joinOrg(coAdmin, organizationId),
    member: await joinOrg(member, organizationId),
    'blocked member': await joinOrg(blocked, organizationId),
    'blocked co-admin': await joinOrg(blockedCoAdmin, organizationId),
  };
  await mustSetAdmin(owner.token, membershipIds['co-admin']!, true);
  await mustSetAdmin(owner.token, membershipIds['blocked co-admin']!, true);
  await mustSetStatus(owner.token, membershipIds['blocked member']!, 'BLOCKED');
  await mustSetStatus(owner.token, membershipIds['blocked co-admin']!, 'BLOCKED');
  await makeSupport(support);
  return {
    organizationId,
    people: { owner, 'co-admin': coAdmin, member, 'blocked member': blocked, 'blocked co-admin': blockedCoAdmin, stranger, support },
    membershipIds,
  };
}

function tokenOf(f: Fixture, caller: Caller): string | undefined {
  return caller === 'anonymous' ? undefined : f.people[caller].token;
}

// ------------------------------------------------------------------ 1. the authorization matrix

const OPERATIONS = [
  'organization(id)',
  'updateOrganization',
  'regenerateInviteCode',
  'setMemberStatus',
  'setMemberAdmin',
  'removeMember',
  'leaveOrganization',
] as const;
type Operation = (typeof OPERATIONS)[number];

/** OK: allowed; NOT_FOUND / UNAUTHENTICATED: GraphQL errors; OWNER_ONLY, MEMBERSHIP_BLOCKED: user errors in the payload. */
type Outcome = 'OK' | 'NOT_FOUND' | 'UNAUTHENTICATED' | 'OWNER_ONLY' | 'MEMBERSHIP_BLOCKED';

const N = 'NOT_FOUND' as const;
const U = 'UNAUTHENTICATED' as const;
// prettier-ignore
const EXPECTED: Record<Operation, Record<Caller, Outcome>> = {
  //                       owner        co-admin             member  blocked member          blocked co-admin        stranger  support  anonymous
  'organization(id)':     { owner: 'OK', 'co-admin': 'OK',         member: N,    'blocked member': N,                    'blocked co-admin': N,                    stranger: N, support: 'OK', anonymous: U },
  updateOrganization:     { owner: 'OK', 'co-admin': 'OK',         member: N,    'blocked member': N,                    'blocked co-admin': N,                    stranger: N, support: N,    anonymous: U },
  regenerateInviteCode:   { owner: 'OK', 'co-admin': 'OK',         member: N,    'blocked member': N,                    'blocked co-admin': N,                    stranger: N, support: N,    anonymous: U },
  setMemberStatus:        { owner: 'OK', 'co-admin': 'OK',         member: N,    'blocked member': N,                    'blocked co-admin': N,                    stranger: N, support: N,    anonymous: U },
  setMemberAdmin:         { owner: 'OK', 'co-admin': 'OWNER_ONLY', member: N,    'blocked member': N,                    'blocked co-admin': N,                    stranger: N, support: N,    anonymous: U },
  removeMember:           { owner: 'OK', 'co-admin': 'OK',         member: N,    'blocked member': N,                    'blocked co-admin': N,                    stranger: N, support: N,    anonymous: U },
  // The owner has no membership to leave; a blocked member may not leave (leaving and rejoining would undo the block).
  leaveOrganization:      { owner: N,    'co-admin': 'OK',         member: 'OK', 'blocked member': 'MEMBERSHIP_BLOCKED', 'blocked co-admin': 'MEMBERSHIP_BLOCKED', stranger: N, support: N,    anonymous: U },
};

const MEMBER_OPS: Operation[] = ['setMemberStatus', 'setMemberAdmin', 'removeMember'];
const RESULT_FIELD: Record<Operation, string> = {
  'organization(id)': 'organization',
  updateOrganization: 'updateOrganization',
  regenerateInviteCode: 'regenerateInviteCode',
  setMemberStatus: 'setMemberStatus',
  setMemberAdmin: 'setMemberAdmin',
  removeMember: 'removeMember',
  leaveOrganization: 'leaveOrganization',
};

/** Runs one operation against `organizationId` / `membershipId` as the holder of `token`. */
async function perform(op: Operation, token: string | undefined, organizationId: string, membershipId: string, name = 'Renamed'): Promise<GqlResult> {
  switch (op) {
    case 'organization(id)':
      return t.gql(ORGANIZATION, { id: organizationId }, { token });
    case 'updateOrganization':
      return t.gql(UPDATE, { input: { organizationId, name, maxOfflineDays: 12 } }, { token });
    case 'regenerateInviteCode':
      return t.gql(REGENERATE, { id: organizationId }, { token });
    case 'setMemberStatus':
      return t.gql(SET_STATUS, { input: { membershipId, status: 'BLOCKED' } }, { token });
    case 'setMemberAdmin':
      return t.gql(SET_ADMIN, { input: { membershipId, admin: true } }, { token });
    case 'removeMember':
      return t.gql(REMOVE, { id: membershipId }, { token });
    case 'leaveOrganization':
      return t.gql(LEAVE, { id: organizationId }, { token });
  }
}

describe('R3 authorization matrix: who may read and change an organization', () => {
  let shared: Fixture;
  beforeAll(async () => {
    shared = await newFixture();
  });

  const cells = OPERATIONS.flatMap((op) => CALLERS.map((caller) => [op, caller, EXPECTED[op][caller]] as [Operation, Caller, Outcome]));

  it.each(cells)('%s by the %s → %s', async (op, caller, outcome) => {
    // leaveOrganization changes the caller's own membership: a fresh organization for each cell.
    const f = op === 'leaveOrganization' ? await newFixture() : shared;
    const orgId = f.organizationId;
    const token = tokenOf(f, caller);
    const callerAccount = caller === 'anonymous' ? undefined : f.people[caller];

    // A fresh third member to act on, so that one caller's success does not change the next cell.
    let victim: NewAccount | undefined;
    let victimMembershipId = '';
    if (MEMBER_OPS.includes(op)) {
      [victim] = await accounts(1);
      victimMembershipId = await joinOrg(victim, orgId);
    }

    const before = await snapshot(orgId);
    const name = `Renamed by ${caller} ${randomUUID().slice(0, 8)}`;
    const r = await perform(op, token, orgId, victimMembershipId, name);
    const field = RESULT_FIELD[op];
    const after = await snapshot(orgId);

    if (outcome === 'NOT_FOUND' || outcome === 'UNAUTHENTICATED') {
      expect(gqlCodes(r)).toEqual([outcome]);
      expect(r.data?.[field] ?? null).toBeNull();
      expect(after).toEqual(before);
      return;
    }

    expect(r.errors).toBeUndefined();
    const result = r.data![field];

    if (outcome === 'OWNER_ONLY') {
      expect(result.errors).toEqual([expect.objectContaining({ code: 'ADMIN_PROTECTED', reason: 'OWNER_ONLY' })]);
      expect(result.membership).toBeNull();
      expect(after).toEqual(before);
      return;
    }
    if (outcome === 'MEMBERSHIP_BLOCKED') {
      expect(result.errors).toEqual([expect.objectContaining({ code: 'MEMBERSHIP_BLOCKED' })]);
      expect(result.ok).toBe(false);
      expect(after).toEqual(before);
      return;
    }

    // Allowed.
    const newAudit = after.audit.slice(before.audit.length);
    const expectOneAuditEntry = (action: string, targetAccountId: string | null) => {
      expect(after.audit.slice(0, before.audit.length)).toEqual(before.audit);
      expect(newAudit).toHaveLength(1);
      expect(newAudit[0]).toMatchObject({ action, actor_account_id: callerAccount!.account.id, target_account_id: targetAccountId });
    };
    const othersUnchanged = (touchedMembershipId: string | null) => {
      const strip = (s: Snapshot) => s.memberships.filter((m: { id: string }) => m.id !== touchedMembershipId);
      expect(strip(after)).toEqual(strip(before));
    };

    switch (op) {
      case 'organization(id)': {
        expect(result.id).toBe(orgId);
        expect(result.owner).toEqual({ userId: f.people.owner.account.userId, email: f.people.owner.email });
        expect(result.members.totalCount).toBe(before.memberships.length);
        expect(result.members.edges.map((e: { node: { id: string } }) => e.node.id).sort()).toEqual(before.memberships.map((m: { id: string }) => m.id).sort());
        expect(result.members.edges).toContainEqual({
          node: expect.objectContaining({ id: f.membershipIds.member, account: { userId: f.people.member.account.userId, email: f.people.member.email } }),
        });
        expect(result.auditLog.totalCount).toBe(before.audit.length);
        expect(result.auditLog.edges.length).toBe(Math.min(100, before.audit.length));
        expect(after).toEqual(before);
        break;
      }
      case 'updateOrganization': {
        expect(result.errors).toEqual([]);
        expect(result.organization).toMatchObject({ id: orgId, name, maxOfflineDays: 12 });
        expect(after.organization[0]).toMatchObject({ name, max_offline_days: 12 });
        expectOneAuditEntry('ORGANIZATION_UPDATED', null);
        expect(after.memberships).toEqual(before.memberships);
        break;
      }
      case 'regenerateInviteCode': {
        expect(result.errors).toEqual([]);
        const code = result.organization.inviteCode;
        expect(code).toMatch(/^I-[0-9A-F]{3}-[0-9A-F]{3}-[0-9A-F]{3}-[0-9A-F]{3}$/);
        expect(code).not.toBe(before.organization[0].invite_code);
        expect(after.organization[0].invite_code).toBe(code);
        expect(result.organization.inviteUrl).toMatch(new RegExp(`/join/${code}$`));
        expectOneAuditEntry('INVITE_CODE_REGENERATED', null);
        expect(after.memberships).toEqual(before.memberships);
        break;
      }
      case 'setMemberStatus': {
        expect(result.errors).toEqual([]);
        expect(result.membership).toMatchObject({
          id: victimMembershipId,
          status: 'BLOCKED',
          account: { userId: victim!.account.userId, email: victim!.email },
        });
        expect(await membershipRow(victimMembershipId)).toMatchObject({ status: 'BLOCKED', is_admin: false });
        expectOneAuditEntry('MEMBER_BLOCKED', victim!.account.id);
        othersUnchanged(victimMembershipId);
        expect(after.organization).toEqual(before.organization);
        break;
      }
      case 'setMemberAdmin': {
        expect(result.errors).toEqual([]);
        expect(result.membership).toMatchObject({ id: victimMembershipId, status: 'ACTIVE', isAdmin: true });
        expect(await membershipRow(victimMembershipId)).toMatchObject({ status: 'ACTIVE', is_admin: true });
        expectOneAuditEntry('ADMIN_GRANTED', victim!.account.id);
        othersUnchanged(victimMembershipId);
        expect(after.organization).toEqual(before.organization);
        break;
      }
      case 'removeMember': {
        expect(result).toEqual({ ok: true, errors: [] });
        expect(await membershipRow(victimMembershipId)).toBeUndefined();
        expectOneAuditEntry('MEMBER_REMOVED', victim!.account.id);
        othersUnchanged(victimMembershipId);
        expect(after.organization).toEqual(before.organization);
        break;
      }
      case 'leaveOrganization': {
        expect(result).toEqual({ ok: true, errors: [] });
        const own = f.membershipIds[caller]!;
        expect(await membershipRow(own)).toBeUndefined();
        expectOneAuditEntry('MEMBER_LEFT', callerAccount!.account.id);
        othersUnchanged(own);
        expect(after.organization).toEqual(before.organization);
        break;
      }
    }
  });

  describe('a non-existent or malformed id gets NOT_FOUND, exactly like a stranger', () => {
    let other: { organizationId: string; membershipId: string };
    beforeAll(async () => {
      // Another organization whose member the shared organization's owner tries to act on.
      const [otherOwner, otherMember] = await accounts(2, 2);
      const { organization } = await newOrganization(t, { owner: otherOwner, name: 'Other Org' });
      other = { organizationId: organization.id, membershipId: await joinOrg(otherMember, organization.id) };
    });

    const kinds = ['a random UUID', 'a malformed id', "another organization's id"] as const;
    const idCells = OPERATIONS.flatMap((op) => kinds.map((kind) => [op, kind] as [Operation, (typeof kinds)[number]]));

    it.each(idCells)('%s with %s', async (op, kind) => {
      const owner = shared.people.owner;
      const id =
        kind === 'a random UUID'
          ? randomUUID()
          : kind === 'a malformed id'
            ? "not-a-uuid' OR 1=1 --"
            : MEMBER_OPS.includes(op)
              ? other.membershipId
              : other.organizationId;
      const beforeOwn = await snapshot(shared.organizationId);
      const beforeOther = await snapshot(other.organizationId);
      const r = await perform(op, owner.token, id, id);
      expect(gqlCodes(r)).toEqual(['NOT_FOUND']);
      expect(r.data?.[RESULT_FIELD[op]] ?? null).toBeNull();
      // Exactly the answer a stranger gets for a real organization / membership.
      const stranger = await perform(op, shared.people.stranger.token, shared.organizationId, shared.membershipIds.member!);
      expect(r.errors!.map((e) => ({ message: e.message, extensions: e.extensions }))).toEqual(
        stranger.errors!.map((e) => ({ message: e.message, extensions: e.extensions })),
      );
      expect(await snapshot(shared.organizationId)).toEqual(beforeOwn);
      expect(await snapshot(other.organizationId)).toEqual(beforeOther);
    });
  });
});

describe('R3.5 administrators are protected from each other and from themselves', () => {
  let f: Fixture;
  let secondCoAdmin: NewAccount;
  let secondCoAdminMembership: string;
  beforeAll(async () => {
    f = await newFixture();
    [secondCoAdmin] = await accounts(1);
    secondCoAdminMembership = await joinOrg(secondCoAdmin, f.organizationId);
    await mustSetAdmin(f.people.owner.token, secondCoAdminMembership, true);
  });

  type Case = [string, 'setMemberStatus' | 'setMemberAdmin' | 'removeMember', 'OTHER_ADMIN' | 'SELF'];
  const cases: Case[] = [
    ['a co-admin blocks another co-admin', 'setMemberStatus', 'OTHER_ADMIN'],
    ['a co-admin revokes another co-admin', 'setMemberAdmin', 'OTHER_ADMIN'],
    ['a co-admin removes another co-admin', 'removeMember', 'OTHER_ADMIN'],
    ['a co-admin blocks themselves', 'setMemberStatus', 'SELF'],
    ['a co-admin revokes their own admin right', 'setMemberAdmin', 'SELF'],
    ['a co-admin removes themselves', 'removeMember', 'SELF'],
  ];

  it.each(cases)('%s: ADMIN_PROTECTED %s... (%s)', async (_name, op, reason) => {
    const target = reason === 'SELF' ? f.membershipIds['co-admin']! : secondCoAdminMembership;
    const before = await snapshot(f.organizationId);
    const token = f.people['co-admin'].token;
    const r =
      op === 'setMemberStatus'
        ? await t.gql(SET_STATUS, { input: { membershipId: target, status: 'BLOCKED' } }, { token })
        : op === 'setMemberAdmin'
          ? await t.gql(SET_ADMIN, { input: { membershipId: target, admin: false } }, { token })
          : await t.gql(REMOVE, { id: target }, { token });
    expect(r.errors).toBeUndefined();
    const p = r.data![op];
    expect(p.errors).toEqual([expect.objectContaining({ code: 'ADMIN_PROTECTED', reason })]);
    if (op === 'removeMember') expect(p.ok).toBe(false);
    else expect(p.membership).toBeNull();
    expect(await snapshot(f.organizationId)).toEqual(before);
  });

  it('the owner may block a co-admin, who loses administrator access at once and regains it when unblocked', async () => {
    const coAdmin = secondCoAdmin;
    expect((await t.gql(ORGANIZATION, { id: f.organizationId }, { token: coAdmin.token })).data!.organization.id).toBe(f.organizationId);
    await mustSetStatus(f.people.owner.token, secondCoAdminMembership, 'BLOCKED');
    expect(await membershipRow(secondCoAdminMembership)).toMatchObject({ status: 'BLOCKED', is_admin: true });
    const blocked = await t.gql(ORGANIZATION, { id: f.organizationId }, { token: coAdmin.token });
    expect(gqlCodes(blocked)).toEqual(['NOT_FOUND']);
    const before = await snapshot(f.organizationId);
    const refused = await t.gql(REMOVE, { id: f.membershipIds.member }, { token: coAdmin.token });
    expect(gqlCodes(refused)).toEqual(['NOT_FOUND']);
    expect(await snapshot(f.organizationId)).toEqual(before);
    // Only active co-administrators are listed as administrators.
    const asOwner = await t.gql(ORGANIZATION, { id: f.organizationId }, { token: f.people.owner.token });
    expect(asOwner.data!.organization.admins.map((a: { userId: string }) => a.userId)).not.toContain(coAdmin.account.userId);
    await mustSetStatus(f.people.owner.token, secondCoAdminMembership, 'ACTIVE');
    expect((await t.gql(ORGANIZATION, { id: f.organizationId }, { token: coAdmin.token })).data!.organization.id).toBe(f.organizationId);
  });
});

// ------------------------------------------------------------------ 2. member emails

describe('R3.4, R3.6 member emails: administrators and support see them, members do not', () => {
  let f: Fixture;
  beforeAll(async () => {
    f = await newFixture();
  });

  const memberEmails = (r: GqlResult) =>
    Object.fromEntries(
      r.data!.organization.members.edges.map((e: { node: { account: { userId: string; email: string | null } } }) => [
        e.node.account.userId,
        e.node.account.email,
      ]),
    );

  it.each(['owner', 'co-admin', 'support'] as const)('the %s sees every member email, the owner email and the admins', async (caller) => {
    const r = await t.gql(ORGANIZATION, { id: f.organizationId }, { token: f.people[caller].token });
    expect(r.errors).toBeUndefined();
    const p = f.people;
    expect(memberEmails(r)).toEqual({
      [p['co-admin'].account.userId]: p['co-admin'].email,
      [p.member.account.userId]: p.member.email,
      [p['blocked member'].account.userId]: p['blocked member'].email,
      [p['blocked co-admin'].account.userId]: p['blocked co-admin'].email,
    });
    expect(r.data!.organization.owner).toEqual({ userId: p.owner.account.userId, email: p.owner.email });
    expect(r.data!.organization.admins).toEqual([
      { userId: p.owner.account.userId, email: p.owner.email },
      { userId: p['co-admin'].account.userId, email: p['co-admin'].email },
    ]);
  });

  it('a member sees the organization in me.memberships with the owner email as adminContactEmail, but cannot list the members', async () => {
    const p = f.people;
    const mine = await t.gql(MY_MEMBERSHIPS, {}, { token: p.member.token });
    expect(mine.errors).toBeUndefined();
    expect(mine.data!.me.organization).toBeNull();
    expect(mine.data!.me.memberships).toEqual([
      {
        id: f.membershipIds.member,
        status: 'ACTIVE',
        isAdmin: false,
        organization: { id: f.organizationId, name: 'Test University', licenseType: 'EDUCATIONAL', adminContactEmail: p.owner.email },
        account: { userId: p.member.account.userId, email: p.member.email },
      },
    ]);
    // Blocked members still see where they belong, and whom to contact.
    const blocked = await t.gql(MY_MEMBERSHIPS, {}, { token: p['blocked member'].token });
    expect(blocked.data!.me.memberships).toEqual([
      expect.objectContaining({ status: 'BLOCKED', organization: expect.objectContaining({ id: f.organizationId, adminContactEmail: p.owner.email }) }),
    ]);
    // But listing the members (and their emails) is for administrators.
    for (const who of [p.member, p['blocked member']]) {
      const list = await t.gql(MEMBERS, { id: f.organizationId }, { token: who.token });
      expect(gqlCodes(list)).toEqual(['NOT_FOUND']);
      expect(list.data?.organization ?? null).toBeNull();
      expect(JSON.stringify(list)).not.toContain(p['co-admin'].email);
    }
  });
});

// ------------------------------------------------------------------ 3. pagination over 120 members

describe('R3.4 the member list is paginated', () => {
  let owner: NewAccount;
  let orgId: string;
  let people: NewAccount[];
  let joinOrder: string[]; // membership ids, oldest first
  const BLOCKED_AT = [3, 17, 60, 99, 119];

  beforeAll(async () => {
    const org = await newOrganization(t, { name: 'Big Org' });
    owner = org.owner;
    orgId = org.organization.id;
    people = await accounts(120, 10);
    joinOrder = [];
    const code = await inviteCodeOf(orgId);
    for (const a of people) {
      // One after another, so that "oldest first" is the join order.
      const r = await join(t, a.token, code);
      if (r.errors.length || !r.membership) throw new Error(`join failed: ${JSON.stringify(r)}`);
      joinOrder.push(r.membership.id);
    }
  });

  async function page(variables: Record<string, unknown>, token = owner.token) {
    const r = await t.gql(MEMBERS, { id: orgId, ...variables }, { token });
    if (r.errors) throw new Error(`members failed: ${JSON.stringify(r.errors)}`);
    return r.data!.organization.members as {
      totalCount: number;
      pageInfo: { hasNextPage: boolean; endCursor: string | null };
      edges: Array<{ cursor: string; node: { id: string; status: string; joinedAt: string; account: { userId: string; email: string } } }>;
    };
  }

  it('pages of 50 give 50, 50, 20 members, oldest first, without duplicates, with totalCount 120 on each', async () => {
    const rows = await t.server.ds.query<Array<{ id: string }>>('SELECT id FROM memberships WHERE organization_id = $1 ORDER BY joined_at, id', [orgId]);
    expect(rows.map((r) => r.id)).toEqual(joinOrder);

    const sizes: number[] = [];
    const more: boolean[] = [];
    const seen: string[] = [];
    const joinedAt: string[] = [];
    let after: string | null = null;
    for (let i = 0; i < 3; i++) {
      const p = await page({ first: 50, after });
      sizes.push(p.edges.length);
      more.push(p.pageInfo.hasNextPage);
      expect(p.totalCount).toBe(120);
      expect(p.pageInfo.endCursor).toBe(p.edges[p.edges.length - 1].cursor);
      seen.push(...p.edges.map((e) => e.node.id));
      joinedAt.push(...p.edges.map((e) => e.node.joinedAt));
      after = p.pageInfo.endCursor;
    }
    expect(sizes).toEqual([50, 50, 20]);
    expect(more).toEqual([true, true, false]);
    expect(new Set(seen).size).toBe(120);
    expect(seen).toEqual(joinOrder);
    expect([...joinedAt].sort()).toEqual(joinedAt);
    // Emails for the administrator, each with its member.
    const first = await page({ first: 1 });
    expect(first.edges[0].node.account).toEqual({ userId: people[0].account.userId, email: people[0].email });
    // After the last page there is nothing more.
    const beyond = await page({ first: 50, after });
    expect(beyond).toMatchObject({ totalCount: 120, edges: [], pageInfo: { hasNextPage: false, endCursor: null } });
    // Default page size is 50.
    expect((await page({})).edges).toHaveLength(50);
  });

  it('filters by status: 5 blocked, 115 active, each page counting only its status', async () => {
    for (const i of BLOCKED_AT) await mustSetStatus(owner.token, joinOrder[i], 'BLOCKED');
    const blockedIds = BLOCKED_AT.map((i) => joinOrder[i]);

    const blocked = await page({ status: 'BLOCKED', first: 100 });
    expect(blocked.totalCount).toBe(5);
    expect(blocked.pageInfo.hasNextPage).toBe(false);
    expect(blocked.edges.map((e) => e.node.id)).toEqual(blockedIds);
    expect(blocked.edges.every((e) => e.node.status === 'BLOCKED')).toBe(true);

    const twoBlocked = await page({ status: 'BLOCKED', first: 2 });
    expect(twoBlocked).toMatchObject({ totalCount: 5, pageInfo: { hasNextPage: true } });
    const restBlocked = await page({ status: 'BLOCKED', first: 100, after: twoBlocked.pageInfo.endCursor });
    expect(restBlocked.totalCount).toBe(5);
    expect(restBlocked.edges.map((e) => e.node.id)).toEqual(blockedIds.slice(2));

    const active1 = await page({ status: 'ACTIVE', first: 100 });
    const active2 = await page({ status: 'ACTIVE', first: 100, after: active1.pageInfo.endCursor });
    expect([active1.totalCount, active2.totalCount]).toEqual([115, 115]);
    expect([active1.edges.length, active2.edges.length]).toEqual([100, 15]);
    expect([active1.pageInfo.hasNextPage, active2.pageInfo.hasNextPage]).toEqual([true, false]);
    const activeIds = [...active1.edges, ...active2.edges].map((e) => e.node.id);
    expect(activeIds).toEqual(joinOrder.filter((id) => !blockedIds.includes(id)));

    // Without a filter, all 120.
    expect((await page({ first: 1 })).totalCount).toBe(120);
    // Support reads the same list.
    const [support] = await accounts(1);
    await makeSupport(support);
    expect((await page({ status: 'BLOCKED' }, support.token)).edges.map((e) => e.node.id)).toEqual(blockedIds);
  });

  const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64url');
  const badCursors: Array<[string, string]> = [
    ['garbage', 'not a cursor!'],
    ['base64 of non-JSON', b64('hello')],
    ['a JSON object', b64('{"a":1}')],
    ['an array of the wrong length (an audit-log cursor)', b64('["123"]')],
    ['a well-formed cursor with a non-date and a non-UUID', b64('["yesterday","not-a-uuid"]')],
    ['a well-formed cursor with a date and a non-UUID', b64('["2024-01-01T00:00:00.000Z","42"]')],
  ];
  it.each(badCursors)('a malformed after cursor (%s) is a BAD_USER_INPUT GraphQL error', async (_name, after) => {
    const r = await t.gql(MEMBERS, { id: orgId, first: 10, after }, { token: owner.token });
    expect(gqlCodes(r)).toEqual(['BAD_USER_INPUT']);
    expect(r.data?.organization ?? null).toBeNull();
  });

  it.each([0, 101, -1])('first: %d is a BAD_USER_INPUT GraphQL error', async (first) => {
    const r = await t.gql(MEMBERS, { id: orgId, first }, { token: owner.token });
    expect(gqlCodes(r)).toEqual(['BAD_USER_INPUT']);
    expect(r.data?.organization ?? null).toBeNull();
  });

  it('first: 100 is the largest page', async () => {
    const p = await page({ first: 100 });
    expect(p.edges).toHaveLength(100);
    expect(p.pageInfo.hasNextPage).toBe(true);
  });
});

// ------------------------------------------------------------------ 4. the audit log

describe('R8.2 the audit log records every administrator action', () => {
  interface Expected {
    action: string;
    actor: string; // user ID
    target: string | null;
    from: number;
    to: number;
    details?: Record<string, unknown>;
  }
  const expected: Expected[] = [];
  let orgId: string;
  let owner: NewAccount;

  /** Runs an action at a distinct instant (a minute after the last) and records what the log should say. */
  async function act(entry: Omit<Expected, 'from' | 'to'>, run: () => Promise<unknown>): Promise<void> {
    await t.advance(60);
    const from = t.server.clock.nowMs();
    await run();
    const to = t.server.clock.nowMs();
    expected.push({ ...entry, from, to });
  }

  async function auditCount(): Promise<number> {
    const [{ n }] = await t.server.ds.query('SELECT count(*)::int AS n FROM audit_log WHERE organization_id = $1', [orgId]);
    return n;
  }

  async function expectRefusedWithoutEntry(run: () => Promise<GqlResult>, check: (r: GqlResult) => void): Promise<void> {
    const before = await snapshot(orgId);
    check(await run());
    expect(await snapshot(orgId)).toEqual(before);
  }

  let a: NewAccount; // blocked, unblocked, removed
  let b: NewAccount; // co-administrator for a while
  let d: NewAccount; // joins and leaves
  let stranger: NewAccount;
  let aMembership: string;
  let bMembership: string;

  beforeAll(async () => {
    [owner, a, b, d, stranger] = await accounts(5, 5);
    await act({ action: 'ORGANIZATION_CREATED', actor: owner.account.userId, target: null }, async () => {
      orgId = (await newOrganization(t, { owner, name: 'Audited Org' })).organization.id;
    });
    await act(
      { action: 'ORGANIZATION_UPDATED', actor: owner.account.userId, target: null, details: { name: 'Audited Org II', allowedEmailDomains: ['example.com'] } },
      async () => {
        // maxOfflineDays is unchanged (30 is the default): not a change, so not in the details.
        const r = await t.gql(
          UPDATE,
          { input: { organizationId: orgId, name: 'Audited Org II', allowedEmailDomains: ['Example.COM'], maxOfflineDays: 30 } },
          { token: owner.token },
        );
        expect(r.data!.updateOrganization.errors).toEqual([]);
      },
    );
    await act({ action: 'INVITE_CODE_REGENERATED', actor: owner.account.userId, target: null }, async () => {
      expect((await t.gql(REGENERATE, { id: orgId }, { token: owner.token })).data!.regenerateInviteCode.errors).toEqual([]);
    });
    await act({ action: 'MEMBER_JOINED', actor: a.account.userId, target: a.account.userId }, async () => {
      aMembership = await joinOrg(a, orgId);
    });
    await act({ action: 'MEMBER_JOINED', actor: b.account.userId, target: b.account.userId }, async () => {
      bMembership = await joinOrg(b, orgId);
    });
    await act({ action: 'MEMBER_BLOCKED', actor: owner.account.userId, target: a.account.userId }, () => mustSetStatus(owner.token, aMembership, 'BLOCKED'));
    // Blocking again changes nothing and records nothing.
    const count = await auditCount();
    await mustSetStatus(owner.token, aMembership, 'BLOCKED');
    expect(await auditCount()).toBe(count);
    await act({ action: 'MEMBER_UNBLOCKED', actor: owner.account.userId, target: a.account.userId }, () => mustSetStatus(owner.token, aMembership, 'ACTIVE'));
    await act({ action: 'ADMIN_GRANTED', actor: owner.account.userId, target: b.account.userId }, () => mustSetAdmin(owner.token, bMembership, true));
    await act({ action: 'ORGANIZATION_UPDATED', actor: b.account.userId, target: null, details: { maxOfflineDays: 10 } }, async () => {
      const r = await t.gql(UPDATE, { input: { organizationId: orgId, name: 'Audited Org II', maxOfflineDays: 10 } }, { token: b.token });
      expect(r.data!.updateOrganization.errors).toEqual([]);
    });

    // Refused and empty actions add no entry.
    await t.advance(60);
    await expectRefusedWithoutEntry(
      () => t.gql(SET_ADMIN, { input: { membershipId: aMembership, admin: true } }, { token: b.token }),
      (r) => expect(r.data!.setMemberAdmin.errors).toEqual([expect.objectContaining({ code: 'ADMIN_PROTECTED', reason: 'OWNER_ONLY' })]),
    );
    await expectRefusedWithoutEntry(
      () => t.gql(UPDATE, { input: { organizationId: orgId, name: 'Hijacked' } }, { token: stranger.token }),
      (r) => expect(gqlCodes(r)).toEqual(['NOT_FOUND']),
    );
    await expectRefusedWithoutEntry(
      () => t.gql(REGENERATE, { id: orgId }, { token: a.token }),
      (r) => expect(gqlCodes(r)).toEqual(['NOT_FOUND']),
    );
    await expectRefusedWithoutEntry(
      () => t.gql(UPDATE, { input: { organizationId: orgId, name: 'Audited Org II', maxOfflineDays: 10 } }, { token: owner.token }),
      (r) => expect(r.data!.updateOrganization.errors).toEqual([]),
    );

    await act({ action: 'ADMIN_REVOKED', actor: owner.account.userId, target: b.account.userId }, () => mustSetAdmin(owner.token, bMembership, false));
    await act({ action: 'MEMBER_REMOVED', actor: owner.account.userId, target: a.account.userId }, async () => {
      expect((await t.gql(REMOVE, { id: aMembership }, { token: owner.token })).data!.removeMember).toEqual({ ok: true, errors: [] });
    });
    await act({ action: 'MEMBER_JOINED', actor: d.account.userId, target: d.account.userId }, () => joinOrg(d, orgId));
    await act({ action: 'MEMBER_LEFT', actor: d.account.userId, target: d.account.userId }, async () => {
      expect((await t.gql(LEAVE, { id: orgId }, { token: d.token })).data!.leaveOrganization).toEqual({ ok: true, errors: [] });
    });
  });

  type Entry = { id: string; action: string; actor: { userId: string } | null; targetUserId: string | null; details: string | null; createdAt: string };
  async function log(variables: Record<string, unknown>, token = owner.token) {
    const r = await t.gql(AUDIT, { id: orgId, ...variables }, { token });
    if (r.errors) throw new Error(`auditLog failed: ${JSON.stringify(r.errors)}`);
    return r.data!.organization.auditLog as {
      totalCount: number;
      pageInfo: { hasNextPage: boolean; endCursor: string | null };
      edges: Array<{ cursor: string; node: Entry }>;
    };
  }

  it('lists the actions newest first with action, actor, target and time', async () => {
    const all = await log({ first: 100 });
    const newestFirst = [...expected].reverse();
    expect(all.totalCount).toBe(expected.length);
    expect(all.pageInfo.hasNextPage).toBe(false);
    expect(all.edges.map((e) => ({ action: e.node.action, actor: e.node.actor?.userId ?? null, target: e.node.targetUserId }))).toEqual(
      newestFirst.map((x) => ({ action: x.action, actor: x.actor, target: x.target })),
    );
    all.edges.forEach((e, i) => {
      const at = Date.parse(e.node.createdAt);
      expect(at).toBeGreaterThanOrEqual(newestFirst[i].from);
      expect(at).toBeLessThanOrEqual(newestFirst[i].to);
    });
    // The database holds exactly these entries: refused actions left none.
    expect(await auditCount()).toBe(expected.length);
  });

  it('ORGANIZATION_UPDATED names the changed fields (and only those) in details', async () => {
    const all = await log({ first: 100 });
    const updates = all.edges.filter((e) => e.node.action === 'ORGANIZATION_UPDATED').map((e) => JSON.parse(e.node.details!));
    expect(updates).toEqual([{ maxOfflineDays: 10 }, { name: 'Audited Org II', allowedEmailDomains: ['example.com'] }]);
  });

  it('pages through the log: first 3, then after, until the end', async () => {
    const all = (await log({ first: 100 })).edges.map((e) => e.node.id);
    const seen: string[] = [];
    const sizes: number[] = [];
    let after: string | null = null;
    for (let guard = 0; guard < 10; guard++) {
      const p = await log({ first: 3, after });
      expect(p.totalCount).toBe(expected.length);
      sizes.push(p.edges.length);
      seen.push(...p.edges.map((e) => e.node.id));
      after = p.pageInfo.endCursor;
      if (!p.pageInfo.hasNextPage) break;
    }
    expect(seen).toEqual(all);
    expect(new Set(seen).size).toBe(expected.length);
    const n = expected.length;
    expect(sizes).toEqual([...Array(Math.floor(n / 3)).fill(3), ...(n % 3 ? [n % 3] : [])]);
    const firstThree = await log({ first: 3 });
    expect(firstThree.edges.map((e) => e.node.action)).toEqual(['MEMBER_LEFT', 'MEMBER_JOINED', 'MEMBER_REMOVED']);
    expect(firstThree.pageInfo.hasNextPage).toBe(true);
  });

  it('support reads the same log; the former co-admin and the remaining member do not', async () => {
    const [support] = await accounts(1);
    await makeSupport(support);
    expect((await log({ first: 100 }, support.token)).edges.map((e) => e.node.id)).toEqual((await log({ first: 100 })).edges.map((e) => e.node.id));
    for (const who of [b, a, d]) {
      expect(gqlCodes(await t.gql(AUDIT, { id: orgId }, { token: who.token }))).toEqual(['NOT_FOUND']);
    }
  });

  const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64url');
  it.each([
    ['garbage', 'not a cursor!'],
    ['a members cursor (wrong length)', b64('["2024-01-01T00:00:00.000Z","00000000-0000-0000-0000-000000000000"]')],
    ['a well-formed cursor that is not a number', b64('["abc"]')],
  ])('a malformed auditLog after cursor (%s) is a BAD_USER_INPUT GraphQL error', async (_name, after) => {
    const r = await t.gql(AUDIT, { id: orgId, first: 3, after }, { token: owner.token });
    expect(gqlCodes(r)).toEqual(['BAD_USER_INPUT']);
  });

  it.each([0, 101])('auditLog first: %d is a BAD_USER_INPUT GraphQL error', async (first) => {
    const r = await t.gql(AUDIT, { id: orgId, first }, { token: owner.token });
    expect(gqlCodes(r)).toEqual(['BAD_USER_INPUT']);
  });
});
