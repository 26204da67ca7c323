import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { acquire, issueLicense, login, newAccount, type NewAccount } from '../helpers/factories';
import { startTestServer, type TestServer } from '../helpers/server';

/**
 * `tessera support …` (R8 for an operator without a browser): the built command line against the
 * test server's database, as a support account named by --as. Its changes are the API's (same
 * services, same audit); a running server delivers the mail it queues.
 */

const run = promisify(execFile);
const CLI = path.resolve(__dirname, '../../dist/src/cli.js');

let t: TestServer;
let support: NewAccount;
let dataDir: string;

async function tessera(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], {
      env: {
        PATH: process.env.PATH,
        DATABASE_URL: t.databaseUrl,
        DATA_DIR: dataDir,
        APP_SECRET: 'test-secret-test-secret-test-secret-0123',
        LOG_LEVEL: 'warn',
      },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

beforeAll(async () => {
  if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first`);
  t = await startTestServer();
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-support-cli-'));
  support = await newAccount(t, { name: 'Night Operator' });
  const granted = await tessera('grant-support', support.email);
  expect(granted).toMatchObject({ code: 0, stdout: expect.stringContaining('now has the support role') });
});
afterAll(async () => {
  await t?.stop();
});

test('support find and release-seats on the command line: the account, its licenses and seats; the broken computer freed; audited', async () => {
  const customer = await newAccount(t, { name: 'Desk Customer' });
  const license = await issueLicense(t, { seats: 2, redeemForUserId: customer.account.userId });
  const seat = await acquire(t, customer.token, 'broken-pc');
  expect(seat.errors).toEqual([]);

  const found = await tessera('support', 'find', customer.email, '--as', support.account.userId, '--json');
  expect(found.code).toBe(0);
  const facts = JSON.parse(found.stdout);
  expect(facts).toMatchObject({
    userId: customer.account.userId,
    licenses: [{ licenseId: license.licenseId }],
    seats: [{ leaseId: seat.lease!.id, platform: 'WINDOWS' }],
  });
  const human = await tessera('support', 'find', license.licenseId, '--as', support.email);
  expect(human.stdout).toContain(customer.account.userId);
  expect(human.stdout).toContain('last seen');

  const freed = await tessera('support', 'release-seats', customer.account.userId, '--license', license.licenseId, '--as', support.email);
  expect(freed).toEqual({ code: 0, stdout: '1 seat(s) freed.\n', stderr: '' });
  const [row] = await t.server.ds.query('SELECT end_reason FROM seat_leases WHERE id = $1', [seat.lease!.id]);
  expect(row.end_reason).toBe('SUPPORT');
  const audit = await t.server.ds.query(`SELECT actor_account_id FROM audit_log WHERE action = 'SUPPORT_SEATS_RELEASED' AND target_account_id = $1`, [
    customer.account.id,
  ]);
  expect(audit).toEqual([{ actor_account_id: support.account.id }]);
});

test('support delete-account asks for --yes, is refused while licenses are owned, and deletes otherwise; usage errors change nothing', async () => {
  const owner = await newAccount(t);
  const license = await issueLicense(t, { redeemForUserId: owner.account.userId });
  const unconfirmed = await tessera('support', 'delete-account', owner.account.userId, '--as', support.email);
  expect(unconfirmed.code).toBe(2);
  expect(unconfirmed.stderr).toContain('--yes');
  const refused = await tessera('support', 'delete-account', owner.account.userId, '--yes', '--as', support.email);
  expect(refused.code).toBe(1);
  expect(refused.stderr).toContain(license.licenseId);
  expect(refused.stderr).toContain('ACCOUNT_OWNS_LICENSES');

  // Moved away first, then deleted.
  const other = await newAccount(t);
  expect((await tessera('support', 'transfer-license', license.licenseId, other.account.userId, '--as', support.email)).code).toBe(0);
  expect((await tessera('support', 'delete-account', owner.account.userId, '--yes', '--as', support.email)).code).toBe(0);
  expect((await login(t, owner.email, owner.password)).errors[0].code).toBe('INVALID_CREDENTIALS');

  // Not a support account, an unknown operation, a missing argument: refused before anything runs.
  const user = await newAccount(t);
  const notSupport = await tessera('support', 'verify-email', user.account.userId, '--as', user.email);
  expect(notSupport.code).toBe(1);
  expect(notSupport.stderr).toContain('not a support account');
  expect((await tessera('support', 'launch-rockets', '--as', support.email)).code).toBe(2);
  expect((await tessera('support', 'transfer-license', license.licenseId, '--as', support.email)).code).toBe(2);
  const help = await tessera('support', '--help');
  expect(help).toMatchObject({ code: 0, stdout: expect.stringContaining('delete-account <account> --yes') });
});

test('rotate-entitlement-key: a new current key, published beside the old one, which still verifies its tokens', async () => {
  const jwks = async () => ((await (await fetch(`${t.base}/.well-known/jwks.json`)).json()) as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid);
  const before = await jwks();
  expect(before.length).toBeGreaterThanOrEqual(1);
  const rotated = await tessera('rotate-entitlement-key');
  expect(rotated.code).toBe(0);
  const kid = /signed with (\S+) from now on/.exec(rotated.stdout)?.[1];
  expect(kid).toBeDefined();
  // Servers sign with it once their key cache moves on (within a minute); the old key stays published.
  expect(rotated.stdout).toContain(`${before[0]} still verifies`);
  const [row] = await t.server.ds.query('SELECT count(*)::int AS n FROM entitlement_keys WHERE retired_at IS NULL');
  expect(row.n).toBe(before.length + 1);
});
