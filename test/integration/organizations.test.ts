import { issueLicense, join, LICENSE_FIELDS, MEMBERSHIP_FIELDS, newAccount, newOrganization, ORG_FIELDS, redeem, uniqueEmail } from '../helpers/factories';
import { startTestServer, type TestServer } from '../helpers/server';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({ PUBLIC_URL: 'https://licenses.example.test' });
});
afterAll(async () => {
  await t.stop();
});

const CREATE = `mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) { organization { ${ORG_FIELDS} } errors { code message } } }`;

async function orgQuery(token: string, id: string, fields = ORG_FIELDS) {
  return t.gql(`query($id: ID!) { organization(id: $id) { ${fields} } }`, { id }, { token });
}

async function membershipRows(orgId: string): Promise<Array<{ account_id: string; status: string; is_admin: boolean }>> {
  return t.server.ds.query('SELECT account_id, status, is_admin FROM memberships WHERE organization_id = $1', [orgId]);
}

describe('R3.1 creating an organization', () => {
  it('creates one for an account holding a sharable license, with an invite code and URL', async () => {
    const { owner, organization } = await newOrganization(t, { name: '  Acme Research  ' });
    expect(organization.name).toBe('Acme Research');
    expect(organization.inviteCode).toMatch(/^I-[0-9A-F]{3}-[0-9A-F]{3}-[0-9A-F]{3}-[0-9A-F]{3}$/);
    expect(organization.inviteUrl).toBe(`https://licenses.example.test/join/${organization.inviteCode}`);
    const me = await t.gql(`{ me { organization { id name maxOfflineDays allowedEmailDomains owner { userId } } } }`, {}, { token: owner.token });
    expect(me.data!.me.organization).toEqual({
      id: organization.id,
      name: 'Acme Research',
      maxOfflineDays: 30,
      allowedEmailDomains: [],
      owner: { userId: owner.account.userId },
    });
  });

  it('refuses NOT_SHARABLE without a license, with only personal licenses, or with only expired sharable ones', async () => {
    const none = await newAccount(t);
    expect((await t.gql(CREATE, { input: { name: 'X' } }, { token: none.token })).data!.createOrganization.errors[0].code).toBe('NOT_SHARABLE');
    const student = await newAccount(t);
    await issueLicense(t, { type: 'STUDENT', redeemForUserId: student.account.userId });
    expect((await t.gql(CREATE, { input: { name: 'X' } }, { token: student.token })).data!.createOrganization.errors[0].code).toBe('NOT_SHARABLE');
    const rows = await t.server.ds.query('SELECT 1 FROM organizations WHERE owner_account_id = ANY($1)', [[none.account.id, student.account.id]]);
    expect(rows).toHaveLength(0);
  });

  it('refuses a second organization of the same owner with ORGANIZATION_EXISTS', async () => {
    const { owner } = await newOrganization(t);
    const again = await t.gql(CREATE, { input: { name: 'Second' } }, { token: owner.token });
    expect(again.data!.createOrganization.errors[0].code).toBe('ORGANIZATION_EXISTS');
    const concurrent = await newAccount(t);
    await issueLicense(t, { redeemForUserId: concurrent.account.userId });
    const results = await Promise.all(Array.from({ length: 5 }, (_, i) => t.gql(CREATE, { input: { name: `Org ${i}` } }, { token: concurrent.token })));
    expect(results.filter((r) => r.data!.createOrganization.errors.length === 0)).toHaveLength(1);
    expect(results.filter((r) => r.data!.createOrganization.errors[0]?.code === 'ORGANIZATION_EXISTS')).toHaveLength(4);
  });

  it('refuses an empty name with BAD_USER_INPUT', async () => {
    const a = await newAccount(t);
    await issueLicense(t, { redeemForUserId: a.account.userId });
    const r = await t.gql(CREATE, { input: { name: '   ' } }, { token: a.token });
    expect(r.data!.createOrganization.errors[0]).toMatchObject({ code: 'BAD_USER_INPUT' });
  });
});

describe('R3.3 joining', () => {
  it('joins by invite code (any spelling), and by the invite URL pasted whole; joining is idempotent', async () => {
    const { owner, organization } = await newOrganization(t, { type: 'EDUCATIONAL' });
    const a = await newAccount(t);
    const first = await join(t, a.token, ` ${organization.inviteCode.toLowerCase().replace('-', '\u2013')} `);
    expect(first.errors).toEqual([]);
    expect(first.alreadyRedeemedByYou).toBe(false);
    expect(first.membership).toMatchObject({
      status: 'ACTIVE',
      isAdmin: false,
      organization: { id: organization.id, licenseType: 'EDUCATIONAL', adminContactEmail: owner.email },
      account: { userId: a.account.userId, email: a.email },
    });
    const again = await join(t, a.token, organization.inviteCode);
    expect(again.errors).toEqual([]);
    expect(again.alreadyRedeemedByYou).toBe(true);
    expect(again.membership!.id).toBe(first.membership!.id);

    const b = await newAccount(t);
    const byUrl = await join(t, b.token, organization.inviteUrl);
    expect(byUrl.errors).toEqual([]);
    expect(byUrl.membership!.organization.id).toBe(organization.id);
    expect(await membershipRows(organization.id)).toHaveLength(2);
  });

  it('shows the join page what an invite leads to, before joining', async () => {
    const { organization } = await newOrganization(t, { name: 'Preview Org' });
    const a = await newAccount(t);
    const r = await t.gql('query($c: String!) { invitation(code: $c) { id name licenseType } }', { c: organization.inviteUrl }, { token: a.token });
    expect(r.data!.invitation).toEqual({ id: organization.id, name: 'Preview Org', licenseType: 'EDUCATIONAL' });
    const none = await t.gql('query($c: String!) { invitation(code: $c) { id } }', { c: 'I-000-000-000-000' }, { token: a.token });
    expect(none.data!.invitation).toBeNull();
    expect(await membershipRows(organization.id)).toHaveLength(0);
  });

  it('admits any number of members beyond the seat count; concurrent joins of one account make one membership', async () => {
    const { organization } = await newOrganization(t, { seats: 1 });
    const members = await Promise.all(Array.from({ length: 6 }, () => newAccount(t)));
    const results = await Promise.all(members.map((m) => join(t, m.token, organization.inviteCode)));
    expect(results.every((r) => r.errors.length === 0)).toBe(true);
    const one = await newAccount(t);
    const same = await Promise.all(Array.from({ length: 6 }, () => join(t, one.token, organization.inviteCode)));
    expect(same.every((r) => r.errors.length === 0)).toBe(true);
    expect(new Set(same.map((r) => r.membership!.id)).size).toBe(1);
    expect(await membershipRows(organization.id)).toHaveLength(7);
  });

  it('refuses the owner with OWN_ORGANIZATION and an unknown code with INVALID_INVITE_CODE', async () => {
    const { owner, organization } = await newOrganization(t);
    expect((await join(t, owner.token, organization.inviteCode)).errors[0].code).toBe('OWN_ORGANIZATION');
    const a = await newAccount(t);
    expect((await join(t, a.token, 'I-000-000-000-001')).errors[0].code).toBe('INVALID_INVITE_CODE');
  });

  it('R3.2 a regenerated code voids the old code and URL', async () => {
    const { owner, organization } = await newOrganization(t);
    const r = await t.gql(
      `mutation($id: ID!) { regenerateInviteCode(organizationId: $id) { organization { inviteCode inviteUrl } errors { code } } }`,
      { id: organization.id },
      { token: owner.token },
    );
    const fresh = r.data!.regenerateInviteCode.organization;
    expect(fresh.inviteCode).not.toBe(organization.inviteCode);
    expect(fresh.inviteUrl).toBe(`https://licenses.example.test/join/${fresh.inviteCode}`);
    const a = await newAccount(t);
    expect((await join(t, a.token, organization.inviteCode)).errors[0].code).toBe('INVALID_INVITE_CODE');
    expect((await join(t, a.token, organization.inviteUrl)).errors[0].code).toBe('INVALID_INVITE_CODE');
    expect((await join(t, a.token, fresh.inviteUrl)).errors).toEqual([]);
  });

  it('R3.5(b) restricts joining to allowed email domains and their subdomains', async () => {
    const { owner, organization } = await newOrganization(t);
    const upd = await t.gql(
      `mutation($input: UpdateOrganizationInput!) { updateOrganization(input: $input) { organization { allowedEmailDomains } errors { code } } }`,
      { input: { organizationId: organization.id, allowedEmailDomains: ['University.EDU', '@college.org'] } },
      { token: owner.token },
    );
    expect(upd.data!.updateOrganization.organization.allowedEmailDomains).toEqual(['college.org', 'university.edu']);
    const outsider = await newAccount(t, { email: uniqueEmail('out').replace('example.com', 'gmail.com') });
    expect((await join(t, outsider.token, organization.inviteCode)).errors[0].code).toBe('EMAIL_DOMAIN_NOT_ALLOWED');
    const lookalike = await newAccount(t, { email: uniqueEmail('fake').replace('example.com', 'notuniversity.edu') });
    expect((await join(t, lookalike.token, organization.inviteCode)).errors[0].code).toBe('EMAIL_DOMAIN_NOT_ALLOWED');
    const staff = await newAccount(t, { email: uniqueEmail('staff').replace('example.com', 'university.edu') });
    expect((await join(t, staff.token, organization.inviteCode)).errors).toEqual([]);
    const student = await newAccount(t, { email: uniqueEmail('stud').replace('example.com', 'cs.university.edu') });
    expect((await join(t, student.token, organization.inviteCode)).errors).toEqual([]);
    const bad = await t.gql(
      `mutation($input: UpdateOrganizationInput!) { updateOrganization(input: $input) { errors { code field } } }`,
      { input: { organizationId: organization.id, allowedEmailDomains: ['not a domain'] } },
      { token: owner.token },
    );
    expect(bad.data!.updateOrganization.errors[0]).toMatchObject({ code: 'BAD_USER_INPUT', field: ['input', 'allowedEmailDomains'] });
  });
});

describe('R3.4 block, unblock, remove; R3.5 leave', () => {
  const STATUS = `mutation($input: SetMemberStatusInput!) { setMemberStatus(input: $input) { membership { id status } errors { code reason } } }`;
  const REMOVE = `mutation($id: ID!) { removeMember(membershipId: $id) { ok errors { code reason } } }`;

  it('a blocked member stays listed without access, cannot rejoin by code or leave; unblocking restores access', async () => {
    const { owner, organization } = await newOrganization(t);
    const a = await newAccount(t);
    const m = (await join(t, a.token, organization.inviteCode)).membership!;
    const blocked = await t.gql(STATUS, { input: { membershipId: m.id, status: 'BLOCKED' } }, { token: owner.token });
    expect(blocked.data!.setMemberStatus.membership).toEqual({ id: m.id, status: 'BLOCKED' });
    expect((await join(t, a.token, organization.inviteCode)).errors[0].code).toBe('MEMBERSHIP_BLOCKED');
    const leave = await t.gql(
      'mutation($id: ID!) { leaveOrganization(organizationId: $id) { ok errors { code } } }',
      { id: organization.id },
      { token: a.token },
    );
    expect(leave.data!.leaveOrganization).toEqual({ ok: false, errors: [{ code: 'MEMBERSHIP_BLOCKED' }] });
    const mine = await t.gql(`{ me { memberships { id status } } }`, {}, { token: a.token });
    expect(mine.data!.me.memberships).toEqual([{ id: m.id, status: 'BLOCKED' }]);
    await t.gql(STATUS, { input: { membershipId: m.id, status: 'ACTIVE' } }, { token: owner.token });
    expect((await membershipRows(organization.id))[0].status).toBe('ACTIVE');
  });

  it('a removed member is gone and may rejoin with the code', async () => {
    const { owner, organization } = await newOrganization(t);
    const a = await newAccount(t);
    const m = (await join(t, a.token, organization.inviteCode)).membership!;
    const r = await t.gql(REMOVE, { id: m.id }, { token: owner.token });
    expect(r.data!.removeMember).toEqual({ ok: true, errors: [] });
    expect(await membershipRows(organization.id)).toHaveLength(0);
    const back = await join(t, a.token, organization.inviteCode);
    expect(back.errors).toEqual([]);
    expect(back.membership!.id).not.toBe(m.id);
  });

  it('a member can leave', async () => {
    const { organization } = await newOrganization(t);
    const a = await newAccount(t);
    await join(t, a.token, organization.inviteCode);
    const leave = await t.gql(
      'mutation($id: ID!) { leaveOrganization(organizationId: $id) { ok errors { code } } }',
      { id: organization.id },
      { token: a.token },
    );
    expect(leave.data!.leaveOrganization).toEqual({ ok: true, errors: [] });
    expect(await membershipRows(organization.id)).toHaveLength(0);
  });
});

describe('R3.5 co-administrators', () => {
  const ADMIN = `mutation($input: SetMemberAdminInput!) { setMemberAdmin(input: $input) { membership { id isAdmin } errors { code reason } } }`;
  const STATUS = `mutation($input: SetMemberStatusInput!) { setMemberStatus(input: $input) { membership { id status } errors { code reason } } }`;

  it('the owner appoints members as co-administrators, who then administer but cannot appoint or touch other admins', async () => {
    const { owner, organization } = await newOrganization(t);
    const [co, co2, plain] = await Promise.all([newAccount(t), newAccount(t), newAccount(t)]);
    const coM = (await join(t, co.token, organization.inviteCode)).membership!;
    const co2M = (await join(t, co2.token, organization.inviteCode)).membership!;
    const plainM = (await join(t, plain.token, organization.inviteCode)).membership!;

    // Before: the member sees no organization.
    expect((await orgQuery(co.token, organization.id)).errors?.[0].extensions?.code).toBe('NOT_FOUND');
    expect((await t.gql(ADMIN, { input: { membershipId: coM.id, admin: true } }, { token: owner.token })).data!.setMemberAdmin.membership).toEqual({
      id: coM.id,
      isAdmin: true,
    });
    await t.gql(ADMIN, { input: { membershipId: co2M.id, admin: true } }, { token: owner.token });

    const view = await orgQuery(co.token, organization.id, 'id admins { userId } members { totalCount edges { node { account { email } } } }');
    expect(view.data!.organization.admins.map((a: { userId: string }) => a.userId).sort()).toEqual(
      [owner.account.userId, co.account.userId, co2.account.userId].sort(),
    );
    expect(view.data!.organization.members.edges.map((e: { node: { account: { email: string } } }) => e.node.account.email)).toContain(plain.email);

    // A co-admin blocks a plain member and changes settings...
    expect((await t.gql(STATUS, { input: { membershipId: plainM.id, status: 'BLOCKED' } }, { token: co.token })).data!.setMemberStatus.membership.status).toBe(
      'BLOCKED',
    );
    const upd = await t.gql(
      `mutation($input: UpdateOrganizationInput!) { updateOrganization(input: $input) { organization { maxOfflineDays name } errors { code } } }`,
      { input: { organizationId: organization.id, maxOfflineDays: 14, name: 'Renamed' } },
      { token: co.token },
    );
    expect(upd.data!.updateOrganization.organization).toEqual({ maxOfflineDays: 14, name: 'Renamed' });
    // ...but cannot appoint, nor block another admin, nor act on itself.
    expect((await t.gql(ADMIN, { input: { membershipId: plainM.id, admin: true } }, { token: co.token })).data!.setMemberAdmin.errors[0]).toEqual({
      code: 'ADMIN_PROTECTED',
      reason: 'OWNER_ONLY',
    });
    expect((await t.gql(STATUS, { input: { membershipId: co2M.id, status: 'BLOCKED' } }, { token: co.token })).data!.setMemberStatus.errors[0]).toEqual({
      code: 'ADMIN_PROTECTED',
      reason: 'OTHER_ADMIN',
    });
    expect((await t.gql(STATUS, { input: { membershipId: coM.id, status: 'BLOCKED' } }, { token: co.token })).data!.setMemberStatus.errors[0]).toEqual({
      code: 'ADMIN_PROTECTED',
      reason: 'SELF',
    });
    const rows = await membershipRows(organization.id);
    expect(rows.filter((r) => r.is_admin)).toHaveLength(2);
    expect(rows.filter((r) => r.status === 'BLOCKED')).toHaveLength(1);

    // A blocked member cannot become an admin; revoking makes a co-admin a plain member without access.
    expect((await t.gql(ADMIN, { input: { membershipId: plainM.id, admin: true } }, { token: owner.token })).data!.setMemberAdmin.errors[0].code).toBe(
      'MEMBERSHIP_BLOCKED',
    );
    await t.gql(ADMIN, { input: { membershipId: coM.id, admin: false } }, { token: owner.token });
    expect((await orgQuery(co.token, organization.id)).errors?.[0].extensions?.code).toBe('NOT_FOUND');
  });
});

describe('R2.6 members use only sharable licenses', () => {
  it('lists the owner’s sharable licenses as the organization’s, never personal ones, and keys only to the owner', async () => {
    const { owner, organization, license } = await newOrganization(t);
    await issueLicense(t, { type: 'STUDENT', redeemForUserId: owner.account.userId });
    const co = await newAccount(t);
    const coM = (await join(t, co.token, organization.inviteCode)).membership!;
    await t.gql(
      `mutation($input: SetMemberAdminInput!) { setMemberAdmin(input: $input) { errors { code } } }`,
      { input: { membershipId: coM.id, admin: true } },
      { token: owner.token },
    );
    const asOwner = await orgQuery(owner.token, organization.id, `licenses { ${LICENSE_FIELDS} }`);
    expect(asOwner.data!.organization.licenses.map((l: { id: string; type: string; key: string }) => [l.id, l.type, l.key])).toEqual([
      [license.id, 'EDUCATIONAL', license.key],
    ]);
    const asCoAdmin = await orgQuery(co.token, organization.id, 'licenses { id key }');
    expect(asCoAdmin.data!.organization.licenses).toEqual([{ id: license.id, key: null }]);
    // The membership summary names the family.
    const mine = await t.gql(`{ me { memberships { ${MEMBERSHIP_FIELDS} } } }`, {}, { token: co.token });
    expect(mine.data!.me.memberships[0].organization.licenseType).toBe('EDUCATIONAL');
  });

  it('redeeming keys still works next to organizations', async () => {
    const { owner } = await newOrganization(t);
    const extra = await issueLicense(t, { type: 'EDUCATIONAL', seats: 5 });
    expect((await redeem(t, owner.token, extra.key)).errors).toEqual([]);
    const pool = await t.gql('{ me { seatPool { total } } }', {}, { token: owner.token });
    expect(pool.data!.me.seatPool.total).toBe(20);
  });
});
