import { randomBytes } from 'node:crypto';
import { tokenFrom } from './mail';
import { SHOP_TOKEN, type TestServer } from './server';

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
  const r = await t.gql(
    `mutation($input: RegisterInput!) { register(input: $input) { token account { ${ACCOUNT_FIELDS} } errors { code message } } }`,
    { input: { email, password, name: options.name ?? 'Test User', language: options.language ?? 'EN' } },
  );
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
  const r = await t.gql(`{ me { ${ACCOUNT_FIELDS} } }`, {}, { token });
  if (r.errors) throw new Error(JSON.stringify(r.errors));
  return r.data!.me;
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
    membership: { id: string; status: string; isAdmin: boolean; organization: { id: string; name: string; licenseType: string | null; adminContactEmail: string | null }; account: { userId: string; email: string | null } } | null;
    alreadyRedeemedByYou: boolean;
    errors: Array<{ code: string; reason: string | null; message: string }>;
  };
}
