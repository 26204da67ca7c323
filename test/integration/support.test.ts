import { acquire, issueLicense, join, login, newAccount, newOrganization, redeem, type NewAccount } from '../helpers/factories';
import { startTestServer, type TestServer } from '../helpers/server';

/**
 * The support desk (R8.1, R8.4) through the API: finding an account by email, user ID, license ID
 * or key with its licenses, memberships and live seats; freeing seats (offline-bound ones too);
 * verifying an email; clearing a login block. Support only, every call audited with the support
 * account as actor; anyone else is refused and nothing changes.
 */

let t: TestServer;
let support: NewAccount;
beforeAll(async () => {
  t = await startTestServer();
  support = await newAccount(t, { name: 'Support Desk' });
  await t.server.services.accounts.grantSupport(support.email);
});
afterAll(async () => {
  await t?.stop();
});

const FIND = `query($q: String!) { supportAccount(query: $q) {
  id userId email emailVerified
  licenses { licenseId key type }
  memberships { status organization { name } }
  leases { id platform kind lastHeartbeatAt }
} }`;
const RELEASE = 'mutation($i: SupportReleaseSeatsInput!) { supportReleaseSeats(input: $i) { count errors { code reason } } }';
const VERIFY = 'mutation($a: ID!) { supportVerifyEmail(accountId: $a) { account { emailVerified } errors { code } } }';
const CLEAR = 'mutation($a: ID!) { supportClearLoginBlock(accountId: $a) { ok errors { code } } }';

async function auditOf(action: string, targetAccountId: string): Promise<Array<{ actor_account_id: string; target_user_id: string; details: unknown }>> {
  return t.server.ds.query('SELECT actor_account_id, target_user_id, details FROM audit_log WHERE action = $1 AND target_account_id = $2', [
    action,
    targetAccountId,
  ]);
}

test('R8.4 support finds an account by email, user ID, license ID or key, with licenses, memberships and live seats; audited', async () => {
  const customer = await newAccount(t, { name: 'Customer' });
  const license = await issueLicense(t, { type: 'STUDENT', platforms: ['WINDOWS'] });
  expect((await redeem(t, customer.token, license.key)).errors).toEqual([]);
  const { organization } = await newOrganization(t, { name: 'Helpdesk University' });
  await join(t, customer.token, organization.inviteCode);
  expect((await acquire(t, customer.token, 'broken-laptop')).errors).toEqual([]);

  for (const q of [customer.email.toUpperCase(), customer.account.userId.toLowerCase(), license.licenseId, ` <${license.key.toLowerCase()}> `]) {
    const r = await t.gql(FIND, { q }, { token: support.token });
    expect(r.errors).toBeUndefined();
    const found = r.data!.supportAccount;
    expect(found.userId).toBe(customer.account.userId);
    expect(found.licenses).toEqual([{ licenseId: license.licenseId, key: license.key, type: 'STUDENT' }]);
    expect(found.memberships).toEqual([{ status: 'ACTIVE', organization: { name: 'Helpdesk University' } }]);
    expect(found.leases).toEqual([expect.objectContaining({ platform: 'WINDOWS', kind: 'OWNER', lastHeartbeatAt: expect.any(String) })]);
  }
  expect((await t.gql(FIND, { q: 'nobody@example.com' }, { token: support.token })).data!.supportAccount).toBeNull();
  // Audited with support as actor, saying how (never the query: it may be an email address).
  const audit = await auditOf('SUPPORT_ACCOUNT_VIEWED', customer.account.id);
  expect(audit).toHaveLength(4);
  expect(audit.every((a) => a.actor_account_id === support.account.id && a.target_user_id === customer.account.userId)).toBe(true);
  expect(JSON.stringify(audit)).not.toContain(customer.email);
});

test('R8.1 support frees a broken computer’s seats, offline-bound ones too; one lease, or all on a license', async () => {
  const owner = await newAccount(t);
  const license = await issueLicense(t, { seats: 2, platforms: ['WINDOWS', 'MAC'], redeemForUserId: owner.account.userId });
  const a = await acquire(t, owner.token, 'laptop');
  const b = await acquire(t, owner.token, 'desktop', { platform: 'MAC' });
  expect([a.errors, b.errors]).toEqual([[], []]);
  const bound = await t.server.services.seats.bindOffline(owner.account.id, 'air-gapped', 'WINDOWS', 'nonce-1');
  expect(bound.lease.kind).toBe('OFFLINE_BOUND');

  // One lease: only that one ends, with reason SUPPORT.
  const one = await t.gql(RELEASE, { i: { accountId: owner.account.id, leaseId: a.lease!.id } }, { token: support.token });
  expect(one.data!.supportReleaseSeats).toEqual({ count: 1, errors: [] });
  const [row] = await t.server.ds.query('SELECT end_reason FROM seat_leases WHERE id = $1', [a.lease!.id]);
  expect(row.end_reason).toBe('SUPPORT');
  // Someone else's lease under this account: NOT_FOUND, nothing ends.
  const stranger = await newAccount(t);
  const wrong = await t.gql(RELEASE, { i: { accountId: stranger.account.id, leaseId: b.lease!.id } }, { token: support.token });
  expect(wrong.errors?.[0].extensions?.code).toBe('NOT_FOUND');
  // All on the license, the offline-bound one included.
  const all = await t.gql(RELEASE, { i: { accountId: owner.account.id, licenseId: license.id } }, { token: support.token });
  expect(all.data!.supportReleaseSeats).toEqual({ count: 2, errors: [] });
  const live = await t.server.ds.query('SELECT 1 FROM seat_leases WHERE account_id = $1 AND ended_at IS NULL', [owner.account.id]);
  expect(live).toHaveLength(0);
  // Neither a license nor a lease named: a clear refusal.
  const none = await t.gql(RELEASE, { i: { accountId: owner.account.id } }, { token: support.token });
  expect(none.data!.supportReleaseSeats.errors).toEqual([{ code: 'BAD_USER_INPUT', reason: 'RELEASE_TARGET' }]);
  expect(await auditOf('SUPPORT_SEATS_RELEASED', owner.account.id)).toHaveLength(2);
});

test('R8.1 support verifies an email whose mail never arrived, and clears a login block; audited', async () => {
  const waiting = await newAccount(t, { verified: false });
  const v = await t.gql(VERIFY, { a: waiting.account.id }, { token: support.token });
  expect(v.data!.supportVerifyEmail).toEqual({ account: { emailVerified: true }, errors: [] });
  // Verified now: it may do more than R1.3's short list.
  expect((await t.gql('mutation { requestTrial { errors { code } } }', {}, { token: waiting.token })).data!.requestTrial.errors).toEqual([]);
  expect(await auditOf('SUPPORT_EMAIL_VERIFIED', waiting.account.id)).toHaveLength(1);

  const locked = await newAccount(t);
  for (let i = 0; i < 10; i++) await login(t, locked.email, 'wrong password here', { ip: '198.51.100.200' });
  expect((await login(t, locked.email, locked.password, { ip: '198.51.100.200' })).errors[0].code).toBe('LOGIN_BLOCKED');
  expect((await t.gql(CLEAR, { a: locked.account.id }, { token: support.token })).data!.supportClearLoginBlock).toEqual({ ok: true, errors: [] });
  expect((await login(t, locked.email, locked.password, { ip: '198.51.100.200' })).errors).toEqual([]);
  expect(await auditOf('SUPPORT_LOGIN_BLOCK_CLEARED', locked.account.id)).toHaveLength(1);
});

test('R8 not support: FORBIDDEN, and nothing changes; an unknown account is NOT_FOUND', async () => {
  const user = await newAccount(t);
  const target = await newAccount(t, { verified: false });
  const asUser = await t.gql(VERIFY, { a: target.account.id }, { token: user.token });
  expect(asUser.errors?.[0].extensions?.code ?? asUser.data?.supportVerifyEmail.errors[0]?.code).toBe('FORBIDDEN');
  expect((await t.gql(FIND, { q: target.email }, { token: user.token })).errors?.[0].extensions?.code).toBe('FORBIDDEN');
  const [row] = await t.server.ds.query('SELECT email_verified_at FROM accounts WHERE id = $1', [target.account.id]);
  expect(row.email_verified_at).toBeNull();
  const unknown = await t.gql(CLEAR, { a: '00000000-0000-4000-8000-000000000000' }, { token: support.token });
  expect(unknown.errors?.[0].extensions?.code).toBe('NOT_FOUND');
});
