import { acquire, heartbeat, issueLicense, login, newAccount, redeem, type NewAccount } from '../helpers/factories';
import { startTestServer, type TestServer } from '../helpers/server';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t.stop();
});

const HOUR = 3600;
const DAY = 24 * HOUR;
const REQUEST = 'mutation { requestTrial { license { id type seats platforms expiresAt status } errors { code reason message } } }';
const TRIAL = '{ me { trial { activeDaysUsed activeDaysTotal expiresAt expired license { id status } } } }';

/** A verified account. */
async function trialUser(): Promise<NewAccount> {
  return newAccount(t);
}

/**
 * A fresh portal (WEB) login of the account: the clock jumps by weeks here, past a WEB token's 14
 * idle days, and a DESKTOP token runs only the desktop app's persisted operations (R9.3).
 */
async function web(a: NewAccount): Promise<string> {
  const r = await login(t, a.email, a.password);
  if (!r.token) throw new Error(`login failed: ${JSON.stringify(r.errors)}`);
  return r.token;
}

async function trialOf(token: string) {
  return (await t.gql(TRIAL, {}, { token })).data!.me.trial as { activeDaysUsed: number; activeDaysTotal: number; expiresAt: string; expired: boolean };
}

async function status(token: string, device = 'pc') {
  return (await t.gql('query($d: String!) { licenseStatus(deviceId: $d) { canUse canSave trialDaysRemaining } }', { d: device }, { token })).data!
    .licenseStatus;
}

describe('R5.1 and R5.2 requesting a trial', () => {
  it('grants a personal 1-seat desktop trial for 90 days', async () => {
    const a = await trialUser();
    const r = await t.gql(REQUEST, {}, { token: await web(a) });
    const license = r.data!.requestTrial.license;
    expect(r.data!.requestTrial.errors).toEqual([]);
    expect(license).toMatchObject({ type: 'TRIAL', seats: 1, platforms: ['MAC', 'WINDOWS'], status: 'ACTIVE' });
    expect(new Date(license.expiresAt).getTime() - t.server.clock.nowMs()).toBeGreaterThan(90 * DAY * 1000 - 60_000);
    expect(await trialOf(await web(a))).toMatchObject({ activeDaysUsed: 0, activeDaysTotal: 5, expired: false });
  });

  it('refuses with reasons HAS_LICENSE, ACTIVE_TRIAL, and RECENT_TRIAL until 365 days have passed', async () => {
    const holder = await trialUser();
    await issueLicense(t, { redeemForUserId: holder.account.userId });
    expect((await t.gql(REQUEST, {}, { token: await web(holder) })).data!.requestTrial.errors[0]).toMatchObject({
      code: 'TRIAL_NOT_ALLOWED',
      reason: 'HAS_LICENSE',
    });

    const a = await trialUser();
    await t.gql(REQUEST, {}, { token: await web(a) });
    expect((await t.gql(REQUEST, {}, { token: await web(a) })).data!.requestTrial.errors[0]).toMatchObject({
      code: 'TRIAL_NOT_ALLOWED',
      reason: 'ACTIVE_TRIAL',
    });
    const concurrent = await trialUser();
    const token = await web(concurrent);
    const many = await Promise.all(Array.from({ length: 5 }, () => t.gql(REQUEST, {}, { token })));
    expect(many.filter((r) => r.data!.requestTrial.errors.length === 0)).toHaveLength(1);

    await t.advance(91 * DAY);
    const again = await login(t, a.email, a.password, {});
    const recent = await t.gql(REQUEST, {}, { token: again.token! });
    expect(recent.data!.requestTrial.errors[0]).toMatchObject({ code: 'TRIAL_NOT_ALLOWED', reason: 'RECENT_TRIAL' });
    await t.advance(275 * DAY);
    const later = await login(t, a.email, a.password, {});
    expect((await t.gql(REQUEST, {}, { token: later.token! })).data!.requestTrial.errors).toEqual([]);
  });
});

describe('R5.3 active days', () => {
  it('the FAQ’s walk-through: two days, a week away, three days, then the trial is over', async () => {
    const a = await trialUser();
    await t.gql(REQUEST, {}, { token: await web(a) });
    // Day 1: start the app; heartbeats in the window use nothing.
    const lease = (await acquire(t, await web(a), 'laptop')).lease!;
    expect(lease.kind).toBe('OWNER');
    await t.advance(3 * HOUR);
    await heartbeat(t, await web(a), lease.id);
    expect(await trialOf(await web(a))).toMatchObject({ activeDaysUsed: 1 });
    expect((await status(await web(a), 'laptop')).trialDaysRemaining).toBe(4);
    // Day 2: the window closed; the next heartbeat uses a day.
    await t.advance(22 * HOUR);
    await heartbeat(t, await web(a), lease.id);
    expect(await trialOf(await web(a))).toMatchObject({ activeDaysUsed: 2 });
    // A week away: nothing is used.
    await t.advance(7 * DAY);
    expect(await trialOf(await web(a))).toMatchObject({ activeDaysUsed: 2, expired: false });
    // Three more days, each started with the app.
    for (const day of [3, 4, 5]) {
      expect((await acquire(t, await web(a), 'laptop')).errors).toEqual([]);
      expect(await trialOf(await web(a))).toMatchObject({ activeDaysUsed: day });
      await t.advance(DAY);
    }
    // All five used and the last window closed: over.
    expect(await trialOf(await web(a))).toMatchObject({ activeDaysUsed: 5, expired: true });
    const next = await acquire(t, await web(a), 'laptop');
    expect(next.errors[0].code).toBe('TRIAL_EXPIRED');
    expect(await status(await web(a), 'laptop')).toMatchObject({ canUse: false, canSave: false });
    // R5: buying a regular license afterwards works.
    const bought = await issueLicense(t);
    expect((await redeem(t, await web(a), bought.key)).errors).toEqual([]);
    expect((await acquire(t, await web(a), 'laptop')).errors).toEqual([]);
    expect(await status(await web(a), 'laptop')).toMatchObject({ canUse: true, canSave: true, trialDaysRemaining: null });
  });

  it('the 24-hour window: 23h59m later uses nothing, 24h later uses the next day', async () => {
    const a = await trialUser();
    await t.gql(REQUEST, {}, { token: await web(a) });
    const lease = (await acquire(t, await web(a), 'pc')).lease!;
    await t.advance(23 * HOUR + 59 * 60);
    await heartbeat(t, await web(a), lease.id);
    expect((await trialOf(await web(a))).activeDaysUsed).toBe(1);
    await t.advance(60);
    await heartbeat(t, await web(a), lease.id);
    expect((await trialOf(await web(a))).activeDaysUsed).toBe(2);
  });

  it('concurrent heartbeats after the window closed use one day', async () => {
    const a = await trialUser();
    await t.gql(REQUEST, {}, { token: await web(a) });
    const lease = (await acquire(t, await web(a), 'pc')).lease!;
    const second = (await acquire(t, await web(a), 'pc-2')).lease;
    expect(second).not.toBeNull(); // two devices inside one window use one day (the owner's two devices)
    expect((await trialOf(await web(a))).activeDaysUsed).toBe(1);
    await t.advance(DAY);
    const token = await web(a);
    await Promise.all(Array.from({ length: 12 }, (_, i) => heartbeat(t, token, i % 2 ? lease.id : second!.id)));
    expect((await trialOf(await web(a))).activeDaysUsed).toBe(2);
  });

  it('90 days end the trial even with days left', async () => {
    const a = await trialUser();
    await t.gql(REQUEST, {}, { token: await web(a) });
    await acquire(t, await web(a), 'pc');
    await t.advance(90 * DAY + 1);
    const fresh = await login(t, a.email, a.password, {});
    expect(await trialOf(fresh.token!)).toMatchObject({ activeDaysUsed: 1, expired: true });
    expect((await acquire(t, fresh.token!, 'pc')).errors[0].code).toBe('TRIAL_EXPIRED');
    expect((await acquire(t, fresh.token!, 'another-pc')).errors[0].code).toBe('TRIAL_EXPIRED');
    expect(await status(fresh.token!, 'pc')).toMatchObject({ canSave: false });
  });
});

describe('R5.4 a trial needs the server', () => {
  it('refuses offline reservation on a trial seat', async () => {
    const a = await trialUser();
    await t.gql(REQUEST, {}, { token: await web(a) });
    const lease = (await acquire(t, await web(a), 'pc')).lease!;
    const r = await t.gql(
      'mutation($i: ReserveOfflineInput!) { reserveOffline(input: $i) { errors { code reason } } }',
      { i: { leaseId: lease.id, days: 2 } },
      { token: await web(a) },
    );
    expect(r.data!.reserveOffline.errors).toEqual([{ code: 'OFFLINE_NOT_ALLOWED', reason: 'TRIAL' }]);
  });
});
