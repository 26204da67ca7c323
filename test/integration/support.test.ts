import { acquire, issueLicense, join, login, me, newAccount, newOrganization, redeem, type NewAccount } from '../helpers/factories';
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

const TRANSFER = `mutation($i: SupportTransferLicenseInput!) { supportTransferLicense(input: $i) {
  license { licenseId owner { userId } } errors { code reason field message } } }`;
const RESEND = 'mutation($l: ID!) { supportResendLicenseKey(licenseId: $l) { ok errors { code reason } } }';
const DELETE = 'mutation($a: ID!) { supportDeleteAccount(accountId: $a) { ok errors { code reason field message } } }';

test('R8.1 support moves a license activated under the wrong account; its seats in the old pool end; audited', async () => {
  const wrong = await newAccount(t, { name: 'Personal Account' });
  const right = await newAccount(t, { name: 'Institute Account' });
  const license = await issueLicense(t, { type: 'EDUCATIONAL', seats: 2, redeemForUserId: wrong.account.userId });
  const seat = await acquire(t, wrong.token, 'office-pc');
  expect(seat.errors).toEqual([]);

  // By the IDs a customer tells support: the license ID and the user ID.
  const r = await t.gql(TRANSFER, { i: { licenseId: license.licenseId, toAccountId: right.account.userId } }, { token: support.token });
  expect(r.data!.supportTransferLicense).toEqual({ license: { licenseId: license.licenseId, owner: { userId: right.account.userId } }, errors: [] });
  const [lease] = await t.server.ds.query('SELECT end_reason FROM seat_leases WHERE id = $1', [seat.lease!.id]);
  expect(lease.end_reason).toBe('LICENSE_ENDED');
  expect((await acquire(t, right.token, 'institute-pc')).errors).toEqual([]);
  expect((await acquire(t, wrong.token, 'office-pc')).errors[0].code).toBe('NO_LICENSE');
  const [entry] = await auditOf('SUPPORT_LICENSE_TRANSFERRED', right.account.id);
  expect(entry).toMatchObject({ actor_account_id: support.account.id, details: { fromUserId: wrong.account.userId, toUserId: right.account.userId } });

  // Pool rules apply: a government license cannot join a pool of educational ones (R2.8); nothing moves.
  const student = await issueLicense(t, { type: 'GOVERNMENT', redeemForUserId: wrong.account.userId });
  const mismatch = await t.gql(TRANSFER, { i: { licenseId: student.id, toAccountId: right.account.id } }, { token: support.token });
  expect(mismatch.data!.supportTransferLicense).toMatchObject({ license: null, errors: [{ code: 'LICENSE_TYPE_MISMATCH', field: ['input', 'toAccountId'] }] });
  const [still] = await t.server.ds.query('SELECT owner_account_id FROM licenses WHERE id = $1', [student.id]);
  expect(still.owner_account_id).toBe(wrong.account.id);
  // Unknown license or account: said so, by field.
  const unknown = await t.gql(TRANSFER, { i: { licenseId: 'L-000-000', toAccountId: right.account.id } }, { token: support.token });
  expect(unknown.data!.supportTransferLicense.errors[0]).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'UNKNOWN_LICENSE' });
  const nobody = await t.gql(TRANSFER, { i: { licenseId: student.id, toAccountId: 'A-000-000' } }, { token: support.token });
  expect(nobody.data!.supportTransferLicense.errors[0]).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'UNKNOWN_ACCOUNT', field: ['input', 'toAccountId'] });
  // Not support: FORBIDDEN, nothing moves.
  const asOwner = await t.gql(TRANSFER, { i: { licenseId: student.id, toAccountId: wrong.account.id } }, { token: right.token });
  expect(asOwner.errors?.[0].extensions?.code).toBe('FORBIDDEN');
});

test('R8.4 support resends a license key: to the owner, in the owner’s language; audited', async () => {
  const owner = await newAccount(t, { language: 'DE' });
  const license = await issueLicense(t, { redeemForUserId: owner.account.userId, language: 'EN' });
  await t.server.mailer.drain();
  const before = t.mail.messages.filter((m) => m.to === owner.email).length;
  expect((await t.gql(RESEND, { l: license.licenseId }, { token: support.token })).data!.supportResendLicenseKey).toEqual({ ok: true, errors: [] });
  const mail = await t.mail.waitFor(owner.email, (m) => m.subject.startsWith('Ihr Lizenzschlüssel') && t.mail.messages.indexOf(m) >= before);
  expect(mail.text).toContain(license.key);
  expect(await auditOf('SUPPORT_LICENSE_KEY_RESENT', owner.account.id)).toHaveLength(1);
});

test('R8.5 support deletes an account: refused while it owns licenses (named); then seats, memberships and tokens end and personal data is erased', async () => {
  const { owner, organization, license } = await newOrganization(t, { name: 'Leaving Institute', seats: 3 });
  const member = await newAccount(t, { name: 'Member To Delete' });
  await join(t, member.token, organization.inviteCode);
  const memberSeat = await acquire(t, member.token, 'member-pc', { organizationId: organization.id });
  expect(memberSeat.errors).toEqual([]);

  // The owner: refused, with the licenses and the organization named; nothing changes.
  const refused = await t.gql(DELETE, { a: owner.account.userId }, { token: support.token });
  const [error] = refused.data!.supportDeleteAccount.errors;
  expect(refused.data!.supportDeleteAccount.ok).toBe(false);
  expect(error).toMatchObject({ code: 'ACCOUNT_OWNS_LICENSES', reason: 'ORGANIZATION', field: ['accountId'] });
  const { licenseId } = (await t.server.ds.query('SELECT license_id AS "licenseId" FROM licenses WHERE id = $1', [license.id]))[0];
  expect(error.message).toContain(licenseId);
  expect(error.message).toContain('Leaving Institute');
  expect((await login(t, owner.email, owner.password)).errors).toEqual([]);

  // The member: deleted.
  const ok = await t.gql(DELETE, { a: member.account.id }, { token: support.token });
  expect(ok.data!.supportDeleteAccount).toEqual({ ok: true, errors: [] });
  const [row] = await t.server.ds.query('SELECT user_id, email, email_normalized, name, password_hash, deleted_at FROM accounts WHERE id = $1', [
    member.account.id,
  ]);
  expect(row).toMatchObject({
    user_id: member.account.userId,
    email: null,
    email_normalized: null,
    name: null,
    password_hash: null,
    deleted_at: expect.any(Date),
  });
  const live = await t.server.ds.query('SELECT count(*)::int AS n FROM seat_leases WHERE account_id = $1 AND ended_at IS NULL', [member.account.id]);
  expect(live[0].n).toBe(0);
  const [seat] = await t.server.ds.query('SELECT end_reason FROM seat_leases WHERE id = $1', [memberSeat.lease!.id]);
  expect(seat.end_reason).toBe('SUPPORT'); // seat history kept, by account ID only
  expect(await t.server.ds.query('SELECT 1 FROM memberships WHERE account_id = $1', [member.account.id])).toEqual([]);
  // Its token no longer works; it cannot log in; its address may register anew.
  expect(await me(t, member.token)).toBeNull();
  expect((await login(t, member.email, member.password)).errors[0].code).toBe('INVALID_CREDENTIALS');
  const again = await t.gql('mutation($i: RegisterInput!) { register(input: $i) { account { userId } errors { code } } }', {
    i: { email: member.email, password: member.password, name: 'Returning Member', language: 'EN' },
  });
  expect(again.data!.register.errors).toEqual([]);
  expect(again.data!.register.account.userId).not.toBe(member.account.userId);
  // Support cannot find it any more; the audit keeps the user ID and no personal data.
  expect((await t.gql(FIND, { q: member.account.userId }, { token: support.token })).data!.supportAccount).toBeNull();
  const entries = await t.server.ds.query(`SELECT target_user_id, details FROM audit_log WHERE action = 'SUPPORT_ACCOUNT_DELETED' AND target_account_id = $1`, [
    member.account.id,
  ]);
  expect(entries).toEqual([expect.objectContaining({ target_user_id: member.account.userId })]);
  expect(JSON.stringify(entries)).not.toContain(member.email);
  // Deleting again: NOT_FOUND; deleting oneself as support: refused.
  expect((await t.gql(DELETE, { a: member.account.id }, { token: support.token })).errors?.[0].extensions?.code).toBe('NOT_FOUND');
  expect((await t.gql(DELETE, { a: support.account.id }, { token: support.token })).data!.supportDeleteAccount.errors[0].reason).toBe('DELETE_SELF');
  // Not support: FORBIDDEN.
  expect((await t.gql(DELETE, { a: owner.account.id }, { token: owner.token })).errors?.[0].extensions?.code).toBe('FORBIDDEN');
});
