import {
  acquire,
  heartbeat,
  issueLicense,
  join,
  login,
  newAccount,
  newOrganization,
  release,
  seatsInUseByLicense,
  type NewAccount,
} from '../helpers/factories';
import { startTestServer, type TestServer } from '../helpers/server';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t.stop();
});

const HOUR = 3600;

async function members(orgCode: string, n: number): Promise<NewAccount[]> {
  const accounts: NewAccount[] = [];
  for (let i = 0; i < n; i += 10) {
    const batch = await Promise.all(Array.from({ length: Math.min(10, n - i) }, () => newAccount(t)));
    await Promise.all(batch.map((a) => join(t, a.token, orgCode)));
    accounts.push(...batch);
  }
  return accounts;
}

async function usage(token: string, orgId: string) {
  const r = await t.gql('query($id: ID!) { organization(id: $id) { seatUsage { total inUse free } } }', { id: orgId }, { token });
  return r.data!.organization.seatUsage;
}

async function invariantHolds(): Promise<void> {
  for (const row of await seatsInUseByLicense(t)) expect(row.used).toBeLessThanOrEqual(row.seats);
}

describe('the FAQ walk-through: a pool of 15 seats', () => {
  it('R4.3 users start and close; a crash holds its seat for 8 hours; a restart after the crash reuses it', async () => {
    const { owner, organization } = await newOrganization(t, { seats: 15 });
    const people = await members(organization.inviteCode, 16);

    // Fifteen people start the app: fifteen seats.
    const leases = await Promise.all(people.slice(0, 15).map((p, i) => acquire(t, p.token, `pc-${i}`)));
    expect(leases.every((l) => l.errors.length === 0 && l.lease!.kind === 'MEMBER')).toBe(true);
    expect(leases[14].seatUsage).toMatchObject({ organizationId: organization.id, total: 15 });
    expect(await usage(owner.token, organization.id)).toEqual({ total: 15, inUse: 15, free: 0 });

    // The sixteenth is refused, with the pool's figures (R4.7).
    const sixteenth = await acquire(t, people[15].token, 'pc-15');
    expect(sixteenth.lease).toBeNull();
    expect(sixteenth.errors[0]).toMatchObject({ code: 'SEATS_EXHAUSTED', message: 'All seats are in use (15 of 15).' });
    expect(sixteenth.seatUsage).toEqual({ organizationId: organization.id, total: 15, inUse: 15, free: 0 });

    // One closes the app: the seat is free, and the sixteenth gets it.
    const closed = await release(t, people[0].token, leases[0].lease!.id);
    expect(closed.lease).toMatchObject({ endReason: 'CLOSED' });
    expect((await acquire(t, people[15].token, 'pc-15')).errors).toEqual([]);

    // One crashes (no release, no heartbeats). A restart reuses the same lease (R4.2).
    const crashed = people[1];
    const restart = await acquire(t, crashed.token, 'pc-1');
    expect(restart.lease!.id).toBe(leases[1].lease!.id);

    // Everyone else keeps sending heartbeats; the crashed one does not. Just before 8 hours it still holds its seat...
    const others = people.slice(2, 16);
    const othersLeases = new Map<string, string>();
    for (const p of others) othersLeases.set(p.account.id, (await acquire(t, p.token, `pc-${people.indexOf(p)}`)).lease!.id);
    await t.advance(4 * HOUR);
    await Promise.all(others.map((p) => heartbeat(t, p.token, othersLeases.get(p.account.id)!)));
    await t.advance(4 * HOUR - 60);
    const late = await newAccount(t);
    await join(t, late.token, organization.inviteCode);
    expect((await acquire(t, late.token, 'late-pc')).errors[0].code).toBe('SEATS_EXHAUSTED');
    // ...and 8 hours after its last heartbeat it is free again, without any sweeper having run.
    await t.advance(61);
    const got = await acquire(t, late.token, 'late-pc');
    expect(got.errors).toEqual([]);
    const [row] = await t.server.ds.query('SELECT ended_at FROM seat_leases WHERE id = $1', [leases[1].lease!.id]);
    expect(row.ended_at).toBeNull(); // not swept yet: it stopped counting by itself
    expect(await t.server.jobs.run('sweep-lapsed-seats')).toBe(true);
    const [swept] = await t.server.ds.query('SELECT end_reason FROM seat_leases WHERE id = $1', [leases[1].lease!.id]);
    expect(swept.end_reason).toBe('TIMED_OUT');
    // The crashed app reports back: its lease has ended, and it gets a new one only if a seat is free.
    const { token } = await login(t, crashed.email, crashed.password);
    const hb = await heartbeat(t, token!, leases[1].lease!.id);
    expect(hb.errors).toEqual([{ code: 'LEASE_ENDED', reason: 'TIMED_OUT' }]);
    expect(hb.lease).toMatchObject({ id: leases[1].lease!.id, endReason: 'TIMED_OUT' });
    await invariantHolds();
  });

  it('R4.5 one user on two computers takes two seats; two users on one terminal server take two seats', async () => {
    const { owner, organization } = await newOrganization(t, { seats: 4 });
    const [a, b, c] = await members(organization.inviteCode, 3);
    expect((await acquire(t, a.token, 'laptop')).errors).toEqual([]);
    expect((await acquire(t, a.token, 'desktop')).errors).toEqual([]);
    expect(await usage(owner.token, organization.id)).toMatchObject({ inUse: 2 });
    expect((await acquire(t, b.token, 'terminal-server')).errors).toEqual([]);
    expect((await acquire(t, c.token, 'terminal-server')).errors).toEqual([]);
    expect(await usage(owner.token, organization.id)).toEqual({ total: 4, inUse: 4, free: 0 });
  });
});

describe('R4.4 owner seats', () => {
  it('a one-seat license shared with an organization serves either the owner’s two devices or one member’s device', async () => {
    const { owner, organization } = await newOrganization(t, { seats: 1 });
    const [m] = await members(organization.inviteCode, 1);
    const home = await acquire(t, owner.token, 'owner-home');
    expect(home.lease).toMatchObject({ kind: 'OWNER', organization: null, expiresAt: null });
    expect((await acquire(t, owner.token, 'owner-laptop')).errors).toEqual([]);
    expect(await usage(owner.token, organization.id)).toEqual({ total: 1, inUse: 1, free: 0 });
    expect((await acquire(t, m.token, 'member-pc')).errors[0].code).toBe('SEATS_EXHAUSTED');
    // A third owner device needs a second seat.
    expect((await acquire(t, owner.token, 'owner-third')).errors[0].code).toBe('SEATS_EXHAUSTED');
    // Closing the app keeps an owner seat (offline work); logging out on the device ends it.
    const kept = await release(t, owner.token, home.lease!.id);
    expect(kept.lease).toMatchObject({ endedAt: null });
    expect((await acquire(t, m.token, 'member-pc')).errors[0].code).toBe('SEATS_EXHAUSTED');
    await release(t, owner.token, home.lease!.id, true);
    // One owner device still holds half the seat: the member still has to wait.
    expect((await acquire(t, m.token, 'member-pc')).errors[0].code).toBe('SEATS_EXHAUSTED');
    const laptop = (await acquire(t, owner.token, 'owner-laptop')).lease!;
    const out = await release(t, owner.token, laptop.id, true);
    expect(out.lease!.endReason).toBe('LOGGED_OUT');
    const member = await acquire(t, m.token, 'member-pc');
    expect(member.errors).toEqual([]);
    expect(member.lease!.entitlement.owner!.userId).toBe(owner.account.userId);
  });

  it('owner seats never lapse without heartbeats', async () => {
    const owner = await newAccount(t);
    await issueLicense(t, { redeemForUserId: owner.account.userId });
    const lease = (await acquire(t, owner.token, 'owner-pc', { platform: 'MAC' })).lease!;
    await t.advance(30 * 24 * HOUR);
    const { token } = await login(t, owner.email, owner.password);
    expect((await heartbeat(t, token!, lease.id)).errors).toEqual([]);
  });
});

describe('R4.1 sources and R4.2 idempotency', () => {
  it('uses the account’s own license first, then organizations oldest membership first, or the one named', async () => {
    const first = await newOrganization(t, { seats: 2, name: 'First' });
    const second = await newOrganization(t, { seats: 2, name: 'Second' });
    const a = await newAccount(t);
    await join(t, a.token, first.organization.inviteCode);
    await join(t, a.token, second.organization.inviteCode);
    expect((await acquire(t, a.token, 'd1')).lease!.organization!.name).toBe('First');
    expect((await acquire(t, a.token, 'd2', { organizationId: second.organization.id })).lease!.organization!.name).toBe('Second');
    await issueLicense(t, { type: 'STUDENT', redeemForUserId: a.account.userId });
    const own = await acquire(t, a.token, 'd3');
    expect(own.lease).toMatchObject({ kind: 'OWNER', organization: null });
    // Naming an organization one is not a member of is NOT_FOUND.
    const stranger = await newOrganization(t);
    const r = await t.gql(
      'mutation($i: AcquireSeatInput!) { acquireSeat(input: $i) { errors { code } } }',
      { i: { deviceId: 'x', platform: 'WINDOWS', organizationId: stranger.organization.id } },
      { token: a.token },
    );
    expect(r.errors?.[0].extensions?.code).toBe('NOT_FOUND');
  });

  it('50 concurrent acquires by one account on one device give one lease', async () => {
    const { organization } = await newOrganization(t, { seats: 5 });
    const [a] = await members(organization.inviteCode, 1);
    const results = await Promise.all(Array.from({ length: 50 }, () => acquire(t, a.token, 'same-device')));
    expect(results.every((r) => r.errors.length === 0)).toBe(true);
    expect(new Set(results.map((r) => r.lease!.id)).size).toBe(1);
    const rows = await t.server.ds.query('SELECT count(*)::int AS n FROM seat_leases WHERE account_id = $1', [a.account.id]);
    expect(rows[0].n).toBe(1);
  });

  it('stores only a keyed hash of the device ID (R1.10)', async () => {
    const { organization } = await newOrganization(t, { seats: 1 });
    const [a] = await members(organization.inviteCode, 1);
    await acquire(t, a.token, 'DEVICE-SERIAL-12345');
    const rows = await t.server.ds.query('SELECT row_to_json(s)::text AS j FROM seat_leases s WHERE account_id = $1', [a.account.id]);
    expect(rows[0].j).not.toContain('DEVICE-SERIAL-12345');
  });
});

describe('R4.6 cloud, platforms and no license', () => {
  it('one cloud session per account; takeover ends the other with TAKEN_OVER', async () => {
    const owner = await newAccount(t);
    await issueLicense(t, { seats: 3, platforms: ['CLOUD', 'WINDOWS'], redeemForUserId: owner.account.userId });
    const firstBrowser = await acquire(t, owner.token, 'browser-1', { platform: 'CLOUD' });
    expect(firstBrowser.errors).toEqual([]);
    const second = await acquire(t, owner.token, 'browser-2', { platform: 'CLOUD' });
    expect(second.errors[0].code).toBe('CLOUD_SESSION_ACTIVE');
    const taken = await acquire(t, owner.token, 'browser-2', { platform: 'CLOUD', takeover: true });
    expect(taken.errors).toEqual([]);
    const hb = await heartbeat(t, owner.token, firstBrowser.lease!.id);
    expect(hb.errors).toEqual([{ code: 'LEASE_ENDED', reason: 'TAKEN_OVER' }]);
  });

  it('PLATFORM_NOT_LICENSED for a platform no license covers; NO_LICENSE without any, while licenseStatus says canSave false', async () => {
    const owner = await newAccount(t);
    await issueLicense(t, { platforms: ['WINDOWS'], redeemForUserId: owner.account.userId });
    expect((await acquire(t, owner.token, 'mac', { platform: 'MAC' })).errors[0].code).toBe('PLATFORM_NOT_LICENSED');
    const nobody = await newAccount(t);
    expect((await acquire(t, nobody.token, 'pc')).errors[0].code).toBe('NO_LICENSE');
    const status = await t.gql('{ licenseStatus(deviceId: "pc") { canUse canSave } }', {}, { token: nobody.token });
    expect(status.data!.licenseStatus).toEqual({ canUse: false, canSave: false });
  });
});

describe('R4.9 offline reservation, R4.10 shrinking pools, R4.11 and membership changes', () => {
  it('a reservation keeps a member seat through closing the app and past the heartbeat timeout, up to the organization’s limit', async () => {
    const { owner, organization } = await newOrganization(t, { seats: 1 });
    const [m, other] = await members(organization.inviteCode, 2);
    const lease = (await acquire(t, m.token, 'field-laptop')).lease!;
    const reserve = (days: number) =>
      t.gql(
        'mutation($i: ReserveOfflineInput!) { reserveOffline(input: $i) { lease { reservedUntil expiresAt } errors { code } } }',
        { i: { leaseId: lease.id, days } },
        { token: m.token },
      );
    expect((await reserve(31)).data!.reserveOffline.errors[0].code).toBe('OFFLINE_PERIOD_TOO_LONG');
    const ok = await reserve(3);
    expect(ok.data!.reserveOffline.errors).toEqual([]);
    expect(new Date(ok.data!.reserveOffline.lease.reservedUntil).getTime()).toBe(new Date(ok.data!.reserveOffline.lease.expiresAt).getTime());
    expect((await release(t, m.token, lease.id)).lease!.endedAt).toBeNull();
    await t.advance(2 * 24 * HOUR);
    expect((await acquire(t, other.token, 'pc')).errors[0].code).toBe('SEATS_EXHAUSTED');
    await t.advance(24 * HOUR + 1);
    const otherLease = (await acquire(t, other.token, 'pc')).lease!;
    // The organization's limit applies, whatever it is set to.
    await t.gql(
      'mutation($i: UpdateOrganizationInput!) { updateOrganization(input: $i) { errors { code } } }',
      { i: { organizationId: organization.id, maxOfflineDays: 2 } },
      { token: owner.token },
    );
    const reserveOther = (days: number) =>
      t.gql(
        'mutation($i: ReserveOfflineInput!) { reserveOffline(input: $i) { errors { code message } } }',
        { i: { leaseId: otherLease.id, days } },
        { token: other.token },
      );
    expect((await reserveOther(3)).data!.reserveOffline.errors[0]).toEqual({
      code: 'OFFLINE_PERIOD_TOO_LONG',
      message: 'The offline period may be at most 2 days.',
    });
    expect((await reserveOther(2)).data!.reserveOffline.errors).toEqual([]);
  });

  it('R4.10 when a license ends, leases beyond capacity end at their next heartbeat, newest member first', async () => {
    const owner = await newAccount(t);
    const now = t.server.clock.nowMs();
    await issueLicense(t, { type: 'COMMERCIAL', seats: 2, redeemForUserId: owner.account.userId });
    await issueLicense(t, { type: 'COMMERCIAL', seats: 2, expiresAt: new Date(now + 3600_000).toISOString(), redeemForUserId: owner.account.userId });
    const org = await t.gql('mutation { createOrganization(input: {name: "Shrinking"}) { organization { id inviteCode } } }', {}, { token: owner.token });
    const { id, inviteCode } = org.data!.createOrganization.organization;
    const people = await members(inviteCode, 4);
    const leases = [];
    for (const [i, p] of people.entries()) {
      leases.push((await acquire(t, p.token, `pc-${i}`)).lease!);
      await t.advance(10);
    }
    expect(await usage(owner.token, id)).toEqual({ total: 4, inUse: 4, free: 0 });
    await t.advance(3600);
    expect(await usage(owner.token, id)).toMatchObject({ total: 2 });
    // The newest sessions end, whoever sends the heartbeat first.
    const newest = await heartbeat(t, people[3].token, leases[3].id);
    expect(newest.errors).toEqual([{ code: 'LEASE_ENDED', reason: 'LICENSE_ENDED' }]);
    expect((await heartbeat(t, people[0].token, leases[0].id)).errors).toEqual([]);
    expect((await heartbeat(t, people[1].token, leases[1].id)).errors).toEqual([]);
    expect((await heartbeat(t, people[2].token, leases[2].id)).errors).toEqual([{ code: 'LEASE_ENDED', reason: 'LICENSE_ENDED' }]);
    expect(await usage(owner.token, id)).toEqual({ total: 2, inUse: 2, free: 0 });
    await invariantHolds();
  });

  it('blocking or removing a member ends their seats at once (MEMBERSHIP_ENDED); usingSeat shows who holds one', async () => {
    const { owner, organization } = await newOrganization(t, { seats: 3 });
    const [a, b] = await members(organization.inviteCode, 2);
    const la = (await acquire(t, a.token, 'a-pc')).lease!;
    const lb = (await acquire(t, b.token, 'b-pc')).lease!;
    const list = await t.gql(
      'query($id: ID!) { organization(id: $id) { members { edges { node { id usingSeat account { userId } } } } activeLeases { id } } }',
      { id: organization.id },
      { token: owner.token },
    );
    const nodes = list.data!.organization.members.edges.map((e: { node: { id: string; usingSeat: boolean; account: { userId: string } } }) => e.node);
    expect(nodes.every((n: { usingSeat: boolean }) => n.usingSeat)).toBe(true);
    expect(list.data!.organization.activeLeases.map((l: { id: string }) => l.id).sort()).toEqual([la.id, lb.id].sort());
    const ma = nodes.find((n: { account: { userId: string } }) => n.account.userId === a.account.userId)!;
    const mb = nodes.find((n: { account: { userId: string } }) => n.account.userId === b.account.userId)!;
    await t.gql(
      'mutation($i: SetMemberStatusInput!) { setMemberStatus(input: $i) { errors { code } } }',
      { i: { membershipId: ma.id, status: 'BLOCKED' } },
      { token: owner.token },
    );
    expect((await heartbeat(t, a.token, la.id)).errors).toEqual([{ code: 'LEASE_ENDED', reason: 'MEMBERSHIP_ENDED' }]);
    // R3.4: a blocked member with no other source is told why, not "no license".
    expect((await acquire(t, a.token, 'a-pc')).errors[0].code).toBe('MEMBERSHIP_BLOCKED');
    await t.gql('mutation($id: ID!) { removeMember(membershipId: $id) { ok } }', { id: mb.id }, { token: owner.token });
    expect((await heartbeat(t, b.token, lb.id)).errors).toEqual([{ code: 'LEASE_ENDED', reason: 'MEMBERSHIP_ENDED' }]);
    expect(await usage(owner.token, organization.id)).toMatchObject({ inUse: 0 });
  });

  it('R4.11 log out everywhere ends every lease of the account, owner devices included', async () => {
    const { owner, organization } = await newOrganization(t, { seats: 3 });
    const l1 = (await acquire(t, owner.token, 'o-1')).lease!;
    const l2 = (await acquire(t, owner.token, 'o-2', { platform: 'MAC' })).lease!;
    const r = await t.gql('mutation { logoutEverywhere { endedLeases revokedTokens } }', {}, { token: owner.token });
    expect(r.data!.logoutEverywhere.endedLeases).toBe(2);
    const rows = await t.server.ds.query('SELECT end_reason FROM seat_leases WHERE id = ANY($1::uuid[])', [[l1.id, l2.id]]);
    expect(rows.map((x: { end_reason: string }) => x.end_reason)).toEqual(['LOGGED_OUT', 'LOGGED_OUT']);
    expect(await usage(owner.token, organization.id)).toMatchObject({ inUse: 0 });
  });

  it('R7.1 licenseStatus and myLeases say whose license serves the device', async () => {
    const { owner, organization } = await newOrganization(t, { seats: 2 });
    const [m] = await members(organization.inviteCode, 1);
    const before = await t.gql('{ licenseStatus(deviceId: "m-pc") { canUse owner { userId } } }', {}, { token: m.token });
    expect(before.data!.licenseStatus).toEqual({ canUse: true, owner: { userId: owner.account.userId } });
    const lease = (await acquire(t, m.token, 'm-pc')).lease!;
    const mine = await t.gql('{ myLeases { id kind organization { id } entitlement { canSave owner { userId } } } }', {}, { token: m.token });
    expect(mine.data!.myLeases).toEqual([
      { id: lease.id, kind: 'MEMBER', organization: { id: organization.id }, entitlement: { canSave: true, owner: { userId: owner.account.userId } } },
    ]);
    // Someone else's lease is NOT_FOUND.
    const other = await newAccount(t);
    const r = await t.gql('mutation($id: ID!) { heartbeatSeat(leaseId: $id) { errors { code } } }', { id: lease.id }, { token: other.token });
    expect(r.errors?.[0].extensions?.code).toBe('NOT_FOUND');
  });
});
