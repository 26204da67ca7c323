import { randomBytes } from 'node:crypto';
import { tokenFrom } from './mail';
import type { TestServer } from './server';

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
