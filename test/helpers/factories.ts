import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { tokenFrom } from './mail';
import { SHOP_TOKEN, type GqlResult, type TestServer } from './server';

export const PASSWORD = 'correct horse battery staple';

export const ACCOUNT_FIELDS = 'id userId email name language emailVerified roles createdAt';

export interface NewAccount {
  token: string;
  email: string;
  password: string;
  account: { id: string; userId: string; email: string; name: string; language: string; emailVerified: boolean; roles: string[] };
}

export function uniqueEmail(prefix = 'user'): string {
  return `${prefix}-${randomBytes(4).toString('hex')}@example.com`;
}

/** Registers through the API and, unless `verified: false`, follows the emailed verification link. */
export async function newAccount(
  t: TestServer,
  options: { email?: string; password?: string; name?: string; language?: 'EN' | 'DE' | 'ES'; verified?: boolean } = {},
): Promise<NewAccount> {
  const email = options.email ?? uniqueEmail();
  const password = options.password ?? PASSWORD;
  const r = await t.gql(`mutation($input: RegisterInput!) { register(input: $input) { token account { ${ACCOUNT_FIELDS} } errors { code message } } }`, {
    input: { email, password, name: options.name ?? 'Test User', language: options.language ?? 'EN' },
  });
  const p = r.data?.register;
  if (!p || p.errors.length) throw new Error(`register failed: ${JSON.stringify(r)}`);
  if (options.verified !== false) {
    const mail = await t.mail.waitFor(email, (m) => m.text.includes('/verify-email?token='));
    const v = await t.gql('mutation($t: String!) { verifyEmail(token: $t) { account { emailVerified } errors { code } } }', {
      t: tokenFrom(mail, '/verify-email'),
    });
    if (!v.data?.verifyEmail.account?.emailVerified) throw new Error(`verify failed: ${JSON.stringify(v)}`);
    p.account.emailVerified = true;
  }
  return { token: p.token, email, password, account: p.account };
}

export async function login(
  t: TestServer,
  email: string,
  password: string,
  options: { client?: 'WEB' | 'DESKTOP'; ip?: string; lang?: string } = {},
): Promise<{ token: string | null; errors: Array<{ code: string; message: string; reason: string | null }> }> {
  const r = await t.gql(
    'mutation($input: LoginInput!) { login(input: $input) { token account { id } errors { code message reason } } }',
    { input: { email, password, client: options.client ?? 'WEB' } },
    { ip: options.ip, lang: options.lang },
  );
  if (!r.data) throw new Error(`login failed: ${JSON.stringify(r)}`);
  return r.data.login;
}

export async function me(t: TestServer, token: string): Promise<{ id: string; userId: string } | null> {
  let r = await t.gql(`{ me { ${ACCOUNT_FIELDS} } }`, {}, { token });
  // A DESKTOP token runs only the desktop app's operations, by hash (R9.3): its `Me`.
  if (r.errors?.[0]?.extensions?.code === 'PERSISTED_QUERY_REQUIRED') r = await persisted(t, 'Me', {}, token);
  if (r.errors) throw new Error(JSON.stringify(r.errors));
  return r.data!.me;
}

/** Runs one of the desktop app's manifest operations by its hash (`documentId`), as the desktop app does (R9.2). */
export async function persisted(t: TestServer, name: string, variables: Record<string, unknown>, token?: string): Promise<GqlResult> {
  const manifest = JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../clients/desktop/persisted-operations.json'), 'utf8')) as {
    operations: Array<{ id: string; name: string }>;
  };
  const op = manifest.operations.find((o) => o.name === name);
  if (!op) throw new Error(`no operation ${name} in the manifest: npm run build`);
  const res = await fetch(t.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ documentId: `sha256:${op.id}`, variables }),
  });
  return { status: res.status, ...((await res.json()) as Omit<GqlResult, 'status'>) };
}

export const LICENSE_FIELDS =
  'id licenseId key type seats platforms expiresAt status sharable offlineCapable orderReference redeemedAt owner { userId name email }';

export interface IssueInput {
  type?: string;
  seats?: number;
  platforms?: string[];
  expiresAt?: string | null;
  purchaserEmail?: string;
  orderReference?: string;
  language?: string;
  redeemForUserId?: string;
}

/** Issues a license through the shop API (the shop's token) and returns it, failing the test on errors. */
export async function issueLicense(t: TestServer, input: IssueInput = {}): Promise<{ id: string; licenseId: string; key: string; [k: string]: unknown }> {
  const r = await t.gql(
    `mutation($input: IssueLicenseInput!) { issueLicense(input: $input) { license { ${LICENSE_FIELDS} } errors { code reason field message } } }`,
    {
      input: {
        type: 'COMMERCIAL',
        seats: 1,
        platforms: ['WINDOWS', 'MAC'],
        expiresAt: null,
        purchaserEmail: uniqueEmail('buyer'),
        orderReference: `order-${randomBytes(6).toString('hex')}`,
        ...input,
      },
    },
    { token: SHOP_TOKEN },
  );
  const p = r.data?.issueLicense;
  if (!p || p.errors.length) throw new Error(`issueLicense failed: ${JSON.stringify(r)}`);
  return p.license;
}

/** Redeems a code as an account; returns the whole payload. */
export async function redeem(t: TestServer, token: string, code: string, options: { ip?: string; lang?: string } = {}) {
  const r = await t.gql(
    `mutation($code: String!) { redeemCode(code: $code) { license { ${LICENSE_FIELDS} } alreadyRedeemedByYou errors { code reason field message } } }`,
    { code },
    { token, ...options },
  );
  if (!r.data) throw new Error(`redeemCode failed: ${JSON.stringify(r)}`);
  return r.data.redeemCode as {
    license: { id: string; key: string | null; licenseId: string; status: string; owner: { userId: string } | null } | null;
    alreadyRedeemedByYou: boolean;
    errors: Array<{ code: string; reason: string | null; field: string[] | null; message: string }>;
  };
}

export const ORG_FIELDS = 'id name inviteCode inviteUrl allowedEmailDomains maxOfflineDays owner { userId email } admins { userId }';

/** An owner with a sharable license of `seats` seats and an organization sharing it. */
export async function newOrganization(
  t: TestServer,
  options: { seats?: number; type?: string; name?: string; owner?: NewAccount } = {},
): Promise<{ owner: NewAccount; organization: { id: string; inviteCode: string; inviteUrl: string; name: string }; license: { id: string; key: string } }> {
  const owner = options.owner ?? (await newAccount(t, { name: 'Org Owner' }));
  const license = await issueLicense(t, { type: options.type ?? 'EDUCATIONAL', seats: options.seats ?? 15, redeemForUserId: owner.account.userId });
  const r = await t.gql(
    `mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) { organization { ${ORG_FIELDS} } errors { code message } } }`,
    { input: { name: options.name ?? 'Test University' } },
    { token: owner.token },
  );
  const p = r.data?.createOrganization;
  if (!p || p.errors.length) throw new Error(`createOrganization failed: ${JSON.stringify(r)}`);
  return { owner, organization: p.organization, license };
}

export const MEMBERSHIP_FIELDS = 'id status isAdmin joinedAt organization { id name licenseType adminContactEmail } account { userId name email }';

/** Joins through the redemption box with an invite code (or URL); returns the payload. */
export async function join(t: TestServer, token: string, code: string) {
  const r = await t.gql(
    `mutation($code: String!) { redeemCode(code: $code) { membership { ${MEMBERSHIP_FIELDS} } alreadyRedeemedByYou errors { code reason message } } }`,
    { code },
    { token },
  );
  if (!r.data) throw new Error(`join failed: ${JSON.stringify(r)}`);
  return r.data.redeemCode as {
    membership: {
      id: string;
      status: string;
      isAdmin: boolean;
      organization: { id: string; name: string; licenseType: string | null; adminContactEmail: string | null };
      account: { userId: string; email: string | null };
    } | null;
    alreadyRedeemedByYou: boolean;
    errors: Array<{ code: string; reason: string | null; message: string }>;
  };
}

export const LEASE_FIELDS =
  'id kind platform acquiredAt lastHeartbeatAt expiresAt reservedUntil heartbeatIntervalSeconds endedAt endReason license { id licenseId } organization { id name } entitlement { canUse canSave owner { userId } license { id } }';

export interface LeaseView {
  id: string;
  kind: string;
  platform: string;
  expiresAt: string | null;
  reservedUntil: string | null;
  endedAt: string | null;
  endReason: string | null;
  license: { id: string; licenseId: string };
  organization: { id: string; name: string } | null;
  entitlement: { canUse: boolean; canSave: boolean; owner: { userId: string } | null; license: { id: string } | null };
}

export interface AcquireResult {
  lease: LeaseView | null;
  seatUsage: { organizationId: string | null; total: number; inUse: number; free: number } | null;
  errors: Array<{ code: string; reason: string | null; message: string }>;
}

export async function acquire(
  t: TestServer,
  token: string,
  deviceId: string,
  options: { platform?: string; organizationId?: string; takeover?: boolean; ip?: string } = {},
): Promise<AcquireResult> {
  const r = await t.gql(
    `mutation($input: AcquireSeatInput!) { acquireSeat(input: $input) { lease { ${LEASE_FIELDS} } seatUsage { organizationId total inUse free } errors { code reason message } } }`,
    { input: { deviceId, platform: options.platform ?? 'WINDOWS', organizationId: options.organizationId, takeover: options.takeover } },
    { token, ip: options.ip },
  );
  if (!r.data) throw new Error(`acquireSeat failed: ${JSON.stringify(r)}`);
  return r.data.acquireSeat;
}

export async function heartbeat(
  t: TestServer,
  token: string,
  leaseId: string,
): Promise<{ lease: LeaseView | null; errors: Array<{ code: string; reason: string | null }> }> {
  const r = await t.gql(`mutation($id: ID!) { heartbeatSeat(leaseId: $id) { lease { ${LEASE_FIELDS} } errors { code reason } } }`, { id: leaseId }, { token });
  if (!r.data) throw new Error(`heartbeatSeat failed: ${JSON.stringify(r)}`);
  return r.data.heartbeatSeat;
}

export async function release(
  t: TestServer,
  token: string,
  leaseId: string,
  logout = false,
): Promise<{ lease: LeaseView | null; errors: Array<{ code: string; reason: string | null }> }> {
  const r = await t.gql(
    `mutation($input: ReleaseSeatInput!) { releaseSeat(input: $input) { lease { ${LEASE_FIELDS} } errors { code reason } } }`,
    { input: { leaseId, logout } },
    { token },
  );
  if (!r.data) throw new Error(`releaseSeat failed: ${JSON.stringify(r)}`);
  return r.data.releaseSeat;
}

/** Seats in use per license, from the database, counted as R4.4 counts them (owner devices pair up). */
export async function seatsInUseByLicense(t: TestServer): Promise<Array<{ license_id: string; seats: number; used: number }>> {
  const now = t.server.clock.now();
  return t.server.ds.query(
    `SELECT l.id AS license_id, l.seats,
            (count(*) FILTER (WHERE s.kind = 'MEMBER') + ceil(count(*) FILTER (WHERE s.kind <> 'MEMBER') / 2.0))::int AS used
       FROM seat_leases s JOIN licenses l ON l.id = s.license_id
      WHERE s.ended_at IS NULL AND (s.lapses_at IS NULL OR s.lapses_at > $1)
      GROUP BY l.id, l.seats`,
    [now],
  );
}
