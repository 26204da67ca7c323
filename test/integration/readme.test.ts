import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { tokenFrom } from '../helpers/mail';
import { startTestServer, type TestServer } from '../helpers/server';

/**
 * The README's walk-throughs, run as written (with bash and curl) against a real server: the worked
 * example (register, verify, log in, who am I, a license from the shop, an organization, a seat) and
 * the web shop's commands (issue, renew, revoke, hand-off). A placeholder line (`TOKEN=...`) is filled
 * from the answer of the step before, as a reader would; nothing else is changed.
 */

const run = promisify(execFile);
const README = fs.readFileSync(path.resolve(__dirname, '../../README.md'), 'utf8');

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({ SHOP_API_TOKEN: 'some-long-secret' });
});
afterAll(async () => {
  await t?.stop();
});

/** The first ```sh block after `heading`. */
function block(heading: string): string[] {
  const from = README.indexOf(heading);
  if (from < 0) throw new Error(`README has no ${heading}`);
  const m = /```sh\n([\s\S]*?)```/.exec(README.slice(from));
  if (!m) throw new Error(`no sh block after ${heading}`);
  return m[1].split('\n');
}

/** Runs lines of shell as the reader would paste them, with `vars` already set; answers curl's JSON. */
async function sh(lines: string[], vars: Record<string, string>): Promise<Record<string, any>> {
  const script = lines.filter((l) => !/^API=/.test(l) && !/^\w+=\.\.\./.test(l)).join('\n');
  const { stdout } = await run('bash', ['-euo', 'pipefail', '-c', script], { env: { PATH: process.env.PATH, API: t.url, ...vars } });
  const answer = JSON.parse(stdout) as { data?: Record<string, any>; errors?: unknown[] };
  expect(answer.errors).toBeUndefined();
  const [payload] = Object.values(answer.data ?? {});
  if (payload && typeof payload === 'object' && 'errors' in payload) expect((payload as { errors: unknown[] }).errors).toEqual([]);
  return answer.data!;
}

/** The lines of a block grouped by its numbered comments (`# 1. …`). */
function steps(lines: string[]): string[][] {
  const groups: string[][] = [];
  for (const line of lines) {
    if (/^# \d+\./.test(line) || groups.length === 0) groups.push([]);
    groups[groups.length - 1].push(line);
  }
  return groups.filter((g) => g.some((l) => l.startsWith('curl ')));
}

test('the worked example runs as written: register, verify from the email, log in, me, a license, an organization, a seat', async () => {
  const [register, verify, login, me, license, organization, seat] = steps(block('### A worked example'));
  const vars: Record<string, string> = {};
  const registered = await sh(register, vars);
  expect(registered.register.account).toMatchObject({ emailVerified: false });
  vars.USER_ID = registered.register.account.userId as string;

  const mail = await t.mail.waitFor('ada@example.com', (m) => m.text.includes('/verify-email?token='));
  vars.TOKEN_FROM_LINK = tokenFrom(mail, '/verify-email');
  expect((await sh(verify, vars)).verifyEmail.account).toEqual({ emailVerified: true });

  vars.TOKEN = (await sh(login, vars)).login.token as string;
  expect((await sh(me, vars)).me).toMatchObject({ userId: vars.USER_ID, email: 'ada@example.com', emailVerified: true });
  expect((await sh(license, vars)).issueLicense.license).toMatchObject({ seats: 5, status: 'ACTIVE' });
  const org = (await sh(organization, vars)).createOrganization.organization as { id: string; inviteUrl: string };
  expect(org.inviteUrl).toMatch(/\/join\//);
  expect((await sh(seat, vars)).acquireSeat.lease).toMatchObject({ kind: 'OWNER' });

  // The subscription snippet, as written, on Node 20 (in the repository, so that its imports resolve):
  // its first event is the organization's current seat usage.
  const snippet = /```js\n([\s\S]*?)```/.exec(README.slice(README.indexOf('Subscriptions run over the WebSocket')))![1];
  const file = path.resolve(__dirname, `../../.readme-snippet-${process.pid}.mjs`);
  fs.writeFileSync(
    file,
    `const token = ${JSON.stringify(vars.TOKEN)}, id = ${JSON.stringify(org.id)};\n${snippet.replace("'ws://127.0.0.1:4000/graphql'", JSON.stringify(t.url.replace(/^http/, 'ws')))}`,
  );
  try {
    const child = spawn(process.execPath, [file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const deadline = Date.now() + 20_000;
    while (!/inUse/.test(out) && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 50));
    child.kill();
    expect(out).toMatch(/seatUsageChanged: \{ inUse: 1, total: 5 \}/);
  } finally {
    fs.rmSync(file, { force: true });
  }

  // The web shop's commands, after it: issue, renew, revoke, and the hand-off into Ada's account.
  const shop = block('### The web shop');
  const preamble = shop.filter((l) => /^SHOP=/.test(l));
  const commands = shop.filter((l) => l.startsWith('curl '));
  expect(commands).toHaveLength(5);
  const [issue, renew, revoke, handoff, redeem] = commands;
  expect((await sh([...preamble, issue], vars)).issueLicense.license).toMatchObject({ status: 'ACTIVE' });
  expect((await sh([...preamble, renew], vars)).renewLicense.license).toMatchObject({ seats: 8, expiresAt: '2031-01-01T00:00:00.000Z' });
  expect((await sh([...preamble, revoke], vars)).revokeLicense.license).toMatchObject({ status: 'REVOKED' });
  const token = (await sh([...preamble, handoff], vars)).createShopHandoff.token as string;
  expect(redeem).toContain('hnd_…');
  const redeemed = await sh([...preamble, redeem.replace('hnd_…', token)], vars);
  expect(redeemed.issueLicense.license.owner).toEqual({ userId: vars.USER_ID });
});
