import { acquire, heartbeat, issueLicense, LICENSE_FIELDS, newAccount, newOrganization, join, type NewAccount } from '../helpers/factories';
import { SHOP_TOKEN, startTestServer, type TestServer } from '../helpers/server';
import { subscribe, wsClient } from '../helpers/ws';

/**
 * The license lifecycle through the shop's API (R2.11) and automatic activation (R2.12):
 * renewLicense and revokeLicense by order reference, idempotent, audited, mailed to the owner in
 * their language, seats beyond a smaller or revoked license ending at once with LICENSE_ENDED
 * (R4.10) and the apps told over their lease subscription; createShopHandoff and
 * issueLicense(redeemForHandoff), single use, 30 minutes, refused clearly otherwise.
 */

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t?.stop();
});

const RENEW = `mutation($i: RenewLicenseInput!) { renewLicense(input: $i) { license { ${LICENSE_FIELDS} } errors { code reason field message } } }`;
const REVOKE = `mutation($i: RevokeLicenseInput!) { revokeLicense(input: $i) { license { ${LICENSE_FIELDS} } errors { code reason field message } } }`;
const HANDOFF = 'mutation { createShopHandoff { token expiresAt errors { code } } }';
const ISSUE = `mutation($i: IssueLicenseInput!) { issueLicense(input: $i) { license { ${LICENSE_FIELDS} } errors { code reason field message } } }`;
const LEASE = 'subscription($id: ID!) { leaseChanged(leaseId: $id) { id endedAt endReason } }';

const inDays = (days: number) => new Date(Date.now() + days * 86_400_000).toISOString();

async function shop(query: string, i: Record<string, unknown>) {
  const r = await t.gql(query, { i }, { token: SHOP_TOKEN });
  if (!r.data) throw new Error(JSON.stringify(r));
  return Object.values(r.data)[0] as {
    license: Record<string, any> | null;
    errors: Array<{ code: string; reason?: string; field?: string[]; message: string }>;
  };
}

async function audit(action: string, licenseId: string): Promise<Array<{ actor_account_id: string | null; target_user_id: string | null; details: any }>> {
  return t.server.ds.query(`SELECT actor_account_id, target_user_id, details FROM audit_log WHERE action = $1 AND details->>'licenseId' = $2`, [
    action,
    licenseId,
  ]);
}

/** Lets every queued mail go out, so that counting mail is a real observation. */
async function mailSettled(): Promise<void> {
  await t.server.mailer.drain();
}

async function mailsTo(email: string, subject: RegExp): Promise<number> {
  await mailSettled();
  return t.mail.messages.filter((m) => m.to === email && subject.test(m.subject)).length;
}

test('R2.11 renewLicense: a new expiry and seats, by order reference; idempotent; audited; the owner mailed in their language', async () => {
  const owner = await newAccount(t, { language: 'DE', name: 'Greta' });
  const license = await issueLicense(t, { seats: 2, expiresAt: inDays(10), redeemForUserId: owner.account.userId });
  const until = inDays(375);

  const first = await shop(RENEW, { orderReference: license.orderReference, expiresAt: until, seats: 5 });
  expect(first.errors).toEqual([]);
  expect(first.license).toMatchObject({ id: license.id, seats: 5, expiresAt: until, status: 'ACTIVE' });
  const mail = await t.mail.waitFor(owner.email, (m) => m.subject.includes('verlängert'));
  expect(mail.text).toContain(license.licenseId);
  expect(mail.text).toContain('5 Plätzen');

  // The same renewal again (a retry after a lost answer): nothing changes, nothing is sent twice.
  const again = await shop(RENEW, { orderReference: license.orderReference, expiresAt: until, seats: 5 });
  expect(again).toEqual(first);
  expect(await mailsTo(owner.email, /verlängert/)).toBe(1);
  const entries = await audit('LICENSE_RENEWED', license.licenseId);
  expect(entries).toHaveLength(1);
  expect(entries[0]).toMatchObject({ actor_account_id: null, target_user_id: owner.account.userId });
  expect(entries[0].details).toMatchObject({ by: 'SHOP', before: { seats: 2 }, after: { seats: 5, expiresAt: until } });

  // With the shop's renewal reference, a late retry of an older renewal sets nothing back.
  const year2 = inDays(740);
  expect((await shop(RENEW, { orderReference: license.orderReference, expiresAt: year2, renewalReference: 'inv-2' })).errors).toEqual([]);
  expect((await shop(RENEW, { orderReference: license.orderReference, expiresAt: inDays(400), renewalReference: 'inv-2' })).errors).toEqual([
    expect.objectContaining({ code: 'BAD_USER_INPUT', reason: 'RENEWAL_REFERENCE_REUSED', field: ['input', 'renewalReference'] }),
  ]);
  const replay = await shop(RENEW, { orderReference: license.orderReference, expiresAt: year2, renewalReference: 'inv-2' });
  expect(replay.license).toMatchObject({ expiresAt: year2, seats: 5 });
});

test('R2.11 unknown order references, trials, bad terms and a revoked license: a clear error, nothing changes', async () => {
  const license = await issueLicense(t, { seats: 3, expiresAt: inDays(30) });
  const cases: Array<[Record<string, unknown>, string, string[]]> = [
    [{ orderReference: 'no-such-order', expiresAt: inDays(90) }, 'UNKNOWN_ORDER', ['input', 'orderReference']],
    [{ orderReference: license.orderReference, expiresAt: inDays(-1) }, 'EXPIRY_IN_PAST', ['input', 'expiresAt']],
    [{ orderReference: license.orderReference, seats: 0 }, 'SEATS', ['input', 'seats']],
  ];
  for (const [input, reason, field] of cases) {
    const r = await shop(RENEW, input);
    expect(r.license).toBeNull();
    expect(r.errors).toEqual([expect.objectContaining({ code: 'BAD_USER_INPUT', reason, field, message: expect.any(String) })]);
  }
  const revoke = await shop(REVOKE, { orderReference: 'no-such-order', reason: 'REFUND' });
  expect(revoke.errors[0]).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'UNKNOWN_ORDER' });
  // A trial is not the shop's order.
  const trialUser = await newAccount(t);
  await t.gql('mutation { requestTrial { errors { code } } }', {}, { token: trialUser.token });
  const [trial] = await t.server.ds.query(`SELECT order_reference FROM licenses WHERE owner_account_id = $1 AND type = 'TRIAL'`, [trialUser.account.id]);
  expect((await shop(REVOKE, { orderReference: trial.order_reference, reason: 'OTHER' })).errors[0].reason).toBe('UNKNOWN_ORDER');
  const [row] = await t.server.ds.query('SELECT seats, expires_at FROM licenses WHERE id = $1', [license.id]);
  expect(row.seats).toBe(3);

  // Revoked licenses are not renewed; a user, not the shop, is refused outright.
  expect((await shop(REVOKE, { orderReference: license.orderReference, reason: 'CHARGEBACK' })).errors).toEqual([]);
  expect((await shop(RENEW, { orderReference: license.orderReference, expiresAt: inDays(400) })).errors[0].reason).toBe('LICENSE_REVOKED');
  const user = await newAccount(t);
  const asUser = await t.gql(RENEW, { i: { orderReference: license.orderReference, expiresAt: inDays(400) } }, { token: user.token });
  expect(asUser.errors?.[0].extensions?.code).toBe('FORBIDDEN');
});

test('R2.11 + R4.10 a shrinking renewal ends the newest member seats at once, with LICENSE_ENDED pushed to their apps', async () => {
  const { organization, license: issued } = await newOrganization(t, { seats: 3, type: 'EDUCATIONAL', name: 'Shrinking College' });
  const license = issued as typeof issued & { orderReference: string; licenseId: string };
  const members: NewAccount[] = [];
  const leases: string[] = [];
  for (let i = 0; i < 3; i++) {
    const m = await newAccount(t);
    await join(t, m.token, organization.inviteCode);
    const a = await acquire(t, m.token, `pc-${i}`, { organizationId: organization.id });
    expect(a.errors).toEqual([]);
    members.push(m);
    leases.push(a.lease!.id);
  }
  const clients = members.map((m) => wsClient(t.url, m.token));
  try {
    const subs = leases.map((id, i) => subscribe<{ endReason: string | null }>(clients[i], LEASE, { id }, 'leaseChanged'));
    // A subscription that starts after the ending still pushes it (its first look): no waiting needed.
    const r = await shop(RENEW, { orderReference: license.orderReference, expiresAt: inDays(365), seats: 1 });
    expect(r.errors).toEqual([]);
    // The two newest sessions end now; the oldest keeps its seat.
    const ended = await Promise.all(subs.slice(1).map((s) => s.waitForCount(1)));
    for (const events of ended) expect(events[0]).toMatchObject({ endReason: 'LICENSE_ENDED' });
    const rows = await t.server.ds.query('SELECT id, end_reason FROM seat_leases WHERE id = ANY($1) ORDER BY acquired_at', [leases]);
    expect(rows.map((x: { end_reason: string | null }) => x.end_reason)).toEqual([null, 'LICENSE_ENDED', 'LICENSE_ENDED']);
    expect((await heartbeat(t, members[0].token, leases[0])).errors).toEqual([]);
    expect((await audit('LICENSE_RENEWED', license.licenseId))[0].details.endedSeats).toBe(2);
  } finally {
    for (const c of clients) await c.dispose();
  }
});

test('R2.11 revokeLicense: REVOKED at once, every seat on it ends (offline-bound too), idempotent, audited, mailed', async () => {
  const owner = await newAccount(t, { language: 'ES', name: 'Ana' });
  const license = await issueLicense(t, { seats: 2, platforms: ['WINDOWS', 'MAC'], redeemForUserId: owner.account.userId });
  const a = await acquire(t, owner.token, 'laptop');
  expect(a.errors).toEqual([]);
  await t.server.services.seats.bindOffline(owner.account.id, 'air-gapped', 'WINDOWS', 'nonce-revoke');
  const client = wsClient(t.url, owner.token);
  try {
    const sub = subscribe<{ endReason: string | null }>(client, LEASE, { id: a.lease!.id }, 'leaseChanged');
    const r = await shop(REVOKE, { orderReference: license.orderReference, reason: 'REFUND' });
    expect(r.errors).toEqual([]);
    expect(r.license!.status).toBe('REVOKED');
    expect((await sub.waitForCount(1))[0]).toMatchObject({ endReason: 'LICENSE_ENDED' });
  } finally {
    await client.dispose();
  }
  const live = await t.server.ds.query('SELECT count(*)::int AS n FROM seat_leases WHERE license_id = $1 AND ended_at IS NULL', [license.id]);
  expect(live[0].n).toBe(0);
  const mail = await t.mail.waitFor(owner.email, (m) => m.subject.includes('revocada'));
  expect(mail.text).toContain(license.licenseId);
  // Again: the same answer, no second mail or audit entry; the first reason stays.
  const again = await shop(REVOKE, { orderReference: license.orderReference, reason: 'CANCELLATION' });
  expect(again.license!.status).toBe('REVOKED');
  expect(await mailsTo(owner.email, /revocada/)).toBe(1);
  const entries = await audit('LICENSE_REVOKED', license.licenseId);
  expect(entries).toHaveLength(1);
  expect(entries[0].details).toMatchObject({ reason: 'REFUND', endedSeats: 2 });
  // The app is told at its next acquire too: no license, no seat.
  expect((await acquire(t, owner.token, 'laptop')).errors[0].code).toBe('NO_LICENSE');
});

test('R2.12 automatic activation: a hand-off token redeems the order into the portal user, once, for 30 minutes', async () => {
  const buyer = await newAccount(t);
  const h = (await t.gql(HANDOFF, {}, { token: buyer.token })).data!.createShopHandoff;
  expect(h.errors).toEqual([]);
  expect(h.token).toMatch(/^hnd_/);
  expect(new Date(h.expiresAt).getTime() - Date.now()).toBeGreaterThan(29 * 60_000);
  const order = (ref: string, extra: Record<string, unknown> = {}) => ({
    type: 'COMMERCIAL',
    seats: 1,
    platforms: ['WINDOWS'],
    purchaserEmail: buyer.email,
    orderReference: ref,
    redeemForHandoff: h.token,
    ...extra,
  });
  const ref = `handoff-${Date.now()}`;
  const issued = await shop(ISSUE, order(ref));
  expect(issued.errors).toEqual([]);
  expect(issued.license!.owner.userId).toBe(buyer.account.userId);
  // The same order again (the shop's retry) answers the same license; another order with the token is refused.
  expect((await shop(ISSUE, order(ref))).license!.id).toBe(issued.license!.id);
  const reused = await shop(ISSUE, order(`${ref}-2`));
  expect(reused.license).toBeNull();
  expect(reused.errors).toEqual([expect.objectContaining({ code: 'BAD_USER_INPUT', reason: 'HANDOFF_USED', field: ['input', 'redeemForHandoff'] })]);
  expect((await shop(ISSUE, order(`${ref}-3`, { redeemForHandoff: 'hnd_not-a-real-token-at-all' }))).errors[0].reason).toBe('HANDOFF_UNKNOWN');
  expect((await shop(ISSUE, order(`${ref}-4`, { redeemForUserId: buyer.account.userId }))).errors[0].reason).toBe('REDEEM_TARGETS');

  // Thirty minutes later a fresh token no longer works, and nothing was issued for it.
  const late = (await t.gql(HANDOFF, {}, { token: buyer.token })).data!.createShopHandoff;
  await t.advance(30 * 60 + 1);
  const expired = await shop(ISSUE, order(`${ref}-5`, { redeemForHandoff: late.token }));
  expect(expired.errors[0]).toMatchObject({ reason: 'HANDOFF_EXPIRED', message: expect.stringContaining('30') });
  const [n] = await t.server.ds.query('SELECT count(*)::int AS n FROM licenses WHERE order_reference LIKE $1', [`${ref}%`]);
  expect(n.n).toBe(1);
  // Anonymous callers get no token.
  expect((await t.gql(HANDOFF)).errors?.[0].extensions?.code).toBe('UNAUTHENTICATED');
});
