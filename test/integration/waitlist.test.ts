import { acquire, join, newAccount, newOrganization, release, type NewAccount } from '../helpers/factories';
import { startTestServer, type TestServer } from '../helpers/server';
import { subscribe, wsClient } from '../helpers/ws';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t.stop();
});

const JOIN = `mutation($i: JoinWaitlistInput!) { joinWaitlist(input: $i) { position entry { id status } errors { code } } }`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(read: () => Promise<T>, ok: (v: T) => boolean, ms = 3000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await read();
    if (ok(v) || Date.now() > deadline) return v;
    await sleep(30);
  }
}

async function entryOf(m: NewAccount): Promise<{ status: string; position: number | null; holdUntil: string | null } | undefined> {
  return (await t.gql('{ myWaitlist { status position holdUntil } }', {}, { token: m.token })).data!.myWaitlist[0];
}

describe('R4.13 the wait-list', () => {
  it('first come, first served: a freed seat is held 10 minutes for the first waiter, counts against capacity, and passes on when untaken', async () => {
    const { organization } = await newOrganization(t, { seats: 1 });
    const [holder, first, second, other] = await Promise.all([newAccount(t, { language: 'DE' }), newAccount(t), newAccount(t), newAccount(t)]);
    for (const m of [holder, first, second, other]) await join(t, m.token, organization.inviteCode);
    const seat = (await acquire(t, holder.token, 'h-pc')).lease!;
    expect((await acquire(t, first.token, 'f-pc')).errors[0].code).toBe('SEATS_EXHAUSTED');

    const j1 = await t.gql(JOIN, { i: { organizationId: organization.id, deviceId: 'f-pc', platform: 'WINDOWS' } }, { token: first.token });
    expect(j1.data!.joinWaitlist).toMatchObject({ position: 1, entry: { status: 'WAITING' }, errors: [] });
    const j2 = await t.gql(JOIN, { i: { organizationId: organization.id, deviceId: 's-pc', platform: 'WINDOWS' } }, { token: second.token });
    expect(j2.data!.joinWaitlist.position).toBe(2);
    const again = await t.gql(JOIN, { i: { organizationId: organization.id, deviceId: 'f-pc', platform: 'WINDOWS' } }, { token: first.token });
    expect(again.data!.joinWaitlist.errors[0].code).toBe('ALREADY_ON_WAITLIST');

    // The first waiter listens.
    const ws = wsClient(t.url, first.token);
    const sub = subscribe<{ status: string; position: number | null }>(
      ws,
      'subscription($id: ID!) { waitlistChanged(organizationId: $id) { status position holdUntil } }',
      { id: organization.id },
      'waitlistChanged',
    );
    expect((await sub.waitForCount(1))[0]).toMatchObject({ status: 'WAITING', position: 1 });

    // The seat frees: the first waiter holds it, nobody else can take it meanwhile.
    await release(t, holder.token, seat.id);
    expect((await sub.waitForCount(2))[1]).toMatchObject({ status: 'HOLDING', position: 0 });
    expect((await entryOf(second))!.position).toBe(1);
    expect((await acquire(t, other.token, 'o-pc')).errors[0].code).toBe('SEATS_EXHAUSTED');
    expect((await acquire(t, holder.token, 'h-pc')).errors[0].code).toBe('SEATS_EXHAUSTED');
    const mail = await t.mail.waitFor(first.email, (m) => m.subject.startsWith('A seat is free for you'));
    expect(mail.text).toContain('held for you until');

    // Untaken for 10 minutes: the hold passes to the second waiter.
    await t.advance(10 * 60 + 1);
    await t.server.jobs.run('waitlist');
    expect((await sub.waitForCount(3))[2]).toMatchObject({ status: 'EXPIRED', position: null });
    const secondEntry = await waitFor(
      () => entryOf(second),
      (e) => e?.status === 'HOLDING',
    );
    expect(secondEntry).toMatchObject({ status: 'HOLDING', position: 0 });
    expect((await acquire(t, first.token, 'f-pc')).errors[0].code).toBe('SEATS_EXHAUSTED');
    // The second takes it.
    expect((await acquire(t, second.token, 's-pc')).errors).toEqual([]);
    expect((await entryOf(second))!.status).toBe('FULFILLED');
    sub.close();
    await ws.dispose();
  });

  it('refuses joining while a seat is free, and for non-members', async () => {
    const { organization } = await newOrganization(t, { seats: 2 });
    const m = await newAccount(t);
    await join(t, m.token, organization.inviteCode);
    const r = await t.gql(JOIN, { i: { organizationId: organization.id, deviceId: 'x', platform: 'WINDOWS' } }, { token: m.token });
    expect(r.data!.joinWaitlist.errors[0].code).toBe('SEAT_AVAILABLE');
    const stranger = await newAccount(t);
    const s = await t.gql(JOIN, { i: { organizationId: organization.id, deviceId: 'x', platform: 'WINDOWS' } }, { token: stranger.token });
    expect(s.errors?.[0].extensions?.code).toBe('NOT_FOUND');
  });

  it('holds count against capacity in the administrators’ figures, and leaving passes the hold on', async () => {
    const { owner, organization } = await newOrganization(t, { seats: 1 });
    const [a, b, c] = await Promise.all([newAccount(t), newAccount(t), newAccount(t)]);
    for (const m of [a, b, c]) await join(t, m.token, organization.inviteCode);
    const seat = (await acquire(t, a.token, 'a')).lease!;
    await t.gql(JOIN, { i: { organizationId: organization.id, deviceId: 'b', platform: 'WINDOWS' } }, { token: b.token });
    await t.gql(JOIN, { i: { organizationId: organization.id, deviceId: 'c', platform: 'WINDOWS' } }, { token: c.token });
    await release(t, a.token, seat.id);
    await waitFor(
      () => entryOf(b),
      (e) => e?.status === 'HOLDING',
    );
    const usage = await t.gql('query($id: ID!) { organization(id: $id) { seatUsage { inUse free } } }', { id: organization.id }, { token: owner.token });
    expect(usage.data!.organization.seatUsage).toEqual({ inUse: 1, free: 0 });
    await t.gql('mutation($id: ID!) { leaveWaitlist(organizationId: $id) { ok } }', { id: organization.id }, { token: b.token });
    const cEntry = await waitFor(
      () => entryOf(c),
      (e) => e?.status === 'HOLDING',
    );
    expect(cEntry!.status).toBe('HOLDING');
  });
});
