import { parseArgs } from 'node:util';
import type { Services } from '../../services';
import { AccessError, DomainError } from '../../platform/errors';
import { accessMessage, userErrorMessage } from '../../platform/i18n';
import { normalizeEmail } from '../accounts/service';
import { AccountEntity } from '../accounts/entities';
import type { DataSource } from 'typeorm';

/**
 * `tessera support …`: the R8 operations for an operator without a browser. They run the same
 * service methods as the API, as the support account named by `--as` (it must hold the SUPPORT role
 * and a verified address), so that every call is authorized and audited exactly as in the portal.
 */

export const SUPPORT_USAGE = `Usage: npm run tessera -- support <operation> [arguments] --as <support email or user ID> [--json]

Operations (accounts by email, user ID A-XXX-XXX or id; licenses by license ID L-XXX-XXX or id):
  find <email | user ID | license ID | license key>      the account, its licenses, memberships and live seats
  release-seats <account> (--license <license> | --lease <lease id>)
                                                         free one seat, or every seat of the account on a license
  transfer-license <license> <to account>                move a license to another account
  verify-email <account>                                 mark the account's email address verified
  clear-login-block <account>                            end the account's login blocks
  resend-license-key <license>                           email the license key again
  delete-account <account> --yes                         delete the account (refused while it owns licenses)

Every operation is written to the audit log with the --as account as actor.
Exit codes: 0 done, 1 refused (the reason is printed), 2 usage error.`;

export interface SupportIo {
  stdout: { write(chunk: string): unknown };
  stderr: { write(chunk: string): unknown };
}

const OPERATIONS: Record<string, { positionals: number; usage: string }> = {
  find: { positionals: 1, usage: 'find <query>' },
  'release-seats': { positionals: 1, usage: 'release-seats <account> (--license <license> | --lease <lease id>)' },
  'transfer-license': { positionals: 2, usage: 'transfer-license <license> <to account>' },
  'verify-email': { positionals: 1, usage: 'verify-email <account>' },
  'clear-login-block': { positionals: 1, usage: 'clear-login-block <account>' },
  'resend-license-key': { positionals: 1, usage: 'resend-license-key <license>' },
  'delete-account': { positionals: 1, usage: 'delete-account <account> --yes' },
};

/** Parses `support …` without touching the database: null (with the message written) on a usage error. */
export function parseSupportArgs(
  args: string[],
  io: SupportIo,
): { operation: string; positionals: string[]; as: string; license?: string; lease?: string; yes: boolean; json: boolean } | 'help' | null {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        as: { type: 'string' },
        license: { type: 'string' },
        lease: { type: 'string' },
        yes: { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    io.stderr.write(`${(err as Error).message}\n\n${SUPPORT_USAGE}\n`);
    return null;
  }
  const [operation, ...positionals] = parsed.positionals;
  if (parsed.values.help || operation === 'help') return 'help';
  const spec = operation ? OPERATIONS[operation] : undefined;
  if (!spec) {
    io.stderr.write(`${operation ? `Unknown support operation "${operation}".` : 'Name a support operation.'}\n\n${SUPPORT_USAGE}\n`);
    return null;
  }
  const usage = (problem: string) => {
    io.stderr.write(`${problem}\nUsage: npm run tessera -- support ${spec.usage} --as <support account>\n`);
    return null;
  };
  if (positionals.length !== spec.positionals) return usage(`support ${operation} takes ${spec.positionals} argument(s).`);
  if (!parsed.values.as) return usage('Name the support account that acts with --as (its email or user ID).');
  if (operation === 'release-seats' && !parsed.values.license === !parsed.values.lease) return usage('Give either --license or --lease.');
  if (operation === 'delete-account' && !parsed.values.yes) return usage('Deleting an account cannot be undone: confirm with --yes.');
  return {
    operation,
    positionals,
    as: parsed.values.as,
    license: parsed.values.license,
    lease: parsed.values.lease,
    yes: parsed.values.yes,
    json: parsed.values.json,
  };
}

/** Runs a parsed support operation against the services; answers the exit code. */
export async function runSupportOperation(
  request: Exclude<ReturnType<typeof parseSupportArgs>, 'help' | null>,
  services: Services,
  ds: DataSource,
  io: SupportIo,
): Promise<number> {
  const actor = await findAccount(ds, request.as);
  if (!actor?.roles.includes('SUPPORT') || !actor.emailVerifiedAt) {
    io.stderr.write(`${request.as} is not a support account with a verified email address (grant it with: npm run tessera -- grant-support <email>).\n`);
    return 1;
  }
  // The command line acts as that account. It has no token: the nil ID stands for "no token" and
  // matches none (only logging out compares it, and no support operation logs out).
  const session = services.accounts.sessionFor({ kind: 'account', account: actor, tokenId: '00000000-0000-0000-0000-000000000000', client: 'WEB' });
  const out = (human: string, json: unknown) => io.stdout.write(request.json ? `${JSON.stringify(json, null, 2)}\n` : `${human}\n`);
  const ref = async (account: string) => (await findAccount(ds, account))?.id ?? account;
  const [first, second] = request.positionals;
  try {
    switch (request.operation) {
      case 'find': {
        const account = await services.support.account(session, first);
        if (!account) {
          out('No account found.', null);
          return 1;
        }
        const [licenses, memberships, leases] = await Promise.all([
          services.licenses.licensesOf(session, account.id),
          services.organizations.membershipsOf(session, account.id),
          services.seats.leasesOf(session, account.id),
        ]);
        const orgs = await services.organizations.byIds(memberships.map((m) => m.membership.organizationId));
        const facts = {
          id: account.id,
          userId: account.userId,
          email: account.email,
          name: account.name,
          language: account.language,
          emailVerified: account.emailVerifiedAt !== null,
          licenses: licenses.map((l) => ({
            licenseId: l.licenseId,
            type: l.type,
            seats: l.seats,
            status: services.licenses.status(l),
            expiresAt: l.expiresAt?.toISOString() ?? null,
          })),
          memberships: memberships.map((m, i) => ({ organization: orgs[i]?.name ?? null, status: m.membership.status, admin: m.membership.isAdmin })),
          seats: leases.map((l) => ({ leaseId: l.id, platform: l.platform, kind: l.kind, lastSeen: l.lastHeartbeatAt.toISOString() })),
        };
        const lines = [
          `${facts.userId}  ${facts.email ?? ''}  ${facts.name ?? ''}  (${facts.emailVerified ? 'verified' : 'not verified'}, ${facts.language})`,
          `  id: ${facts.id}`,
          `  licenses: ${facts.licenses.length === 0 ? 'none' : ''}`,
          ...facts.licenses.map((l) => `    ${l.licenseId}  ${l.type}  ${l.seats} seat(s)  ${l.status}  ${l.expiresAt ? `until ${l.expiresAt}` : 'permanent'}`),
          `  memberships: ${facts.memberships.length === 0 ? 'none' : ''}`,
          ...facts.memberships.map((m) => `    ${m.organization ?? '?'}  ${m.status}${m.admin ? '  administrator' : ''}`),
          `  live seats: ${facts.seats.length === 0 ? 'none' : ''}`,
          ...facts.seats.map((s) => `    ${s.leaseId}  ${s.platform}  ${s.kind}  last seen ${s.lastSeen}`),
        ];
        out(lines.join('\n'), facts);
        return 0;
      }
      case 'release-seats': {
        const accountId = await ref(first);
        const license = request.license ? await licenseUuid(ds, request.license) : undefined;
        const count = await services.support.releaseSeats(session, { accountId, licenseId: license, leaseId: request.lease });
        out(`${count} seat(s) freed.`, { count });
        return 0;
      }
      case 'transfer-license': {
        const license = await services.support.transferLicense(session, { licenseId: first, toAccountId: second });
        out(`${license.licenseId} now belongs to ${second}.`, { licenseId: license.licenseId, ownerAccountId: license.ownerAccountId });
        return 0;
      }
      case 'verify-email': {
        const account = await services.support.verifyEmail(session, await ref(first));
        out(`${account.userId}: email address verified.`, { userId: account.userId, emailVerified: true });
        return 0;
      }
      case 'clear-login-block':
        await services.support.clearLoginBlock(session, await ref(first));
        out('Login blocks cleared.', { ok: true });
        return 0;
      case 'resend-license-key':
        await services.support.resendLicenseKey(session, first);
        out('License key email queued; a running server delivers it.', { ok: true });
        return 0;
      case 'delete-account':
        await services.support.deleteAccount(session, await ref(first));
        out('Account deleted.', { ok: true });
        return 0;
    }
  } catch (err) {
    if (err instanceof DomainError) {
      const message = userErrorMessage('EN', err.code, err.options.reason, err.options.params);
      io.stderr.write(`Refused: ${message} (${err.code}${err.options.reason ? `, ${err.options.reason}` : ''})\n`);
      if (request.json) io.stdout.write(`${JSON.stringify({ error: { code: err.code, reason: err.options.reason ?? null, message } })}\n`);
      return 1;
    }
    if (err instanceof AccessError) {
      io.stderr.write(`Refused: ${accessMessage('EN', err.code, err.params)} (${err.code})\n`);
      return 1;
    }
    throw err;
  }
  return 2;
}

/** An account by email, user ID or id (the command line's way to name one); deleted ones are none. */
async function findAccount(ds: DataSource, ref: string): Promise<AccountEntity | null> {
  const q = ref.trim();
  const repo = ds.getRepository(AccountEntity);
  const account = q.includes('@')
    ? await repo.findOneBy({ emailNormalized: normalizeEmail(q) })
    : /^A-[0-9A-F]{3}-[0-9A-F]{3}$/i.test(q)
      ? await repo.findOneBy({ userId: q.toUpperCase() })
      : /^[0-9a-f-]{36}$/i.test(q)
        ? await repo.findOneBy({ id: q })
        : null;
  return account && !account.deletedAt ? account : null;
}

/** A license's id from its license ID (releaseSeats takes ids). */
async function licenseUuid(ds: DataSource, ref: string): Promise<string> {
  if (!/^L-[0-9A-F]{3}-[0-9A-F]{3}$/i.test(ref.trim())) return ref.trim();
  const [row] = await ds.query<Array<{ id: string }>>('SELECT id FROM licenses WHERE license_id = $1', [ref.trim().toUpperCase()]);
  return row?.id ?? ref;
}
