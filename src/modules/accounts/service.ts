import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { EntityManager } from 'typeorm';
import { In, IsNull } from 'typeorm';
import { Session, type Principal } from '../../platform/auth/session';
import { databaseFacts, type AuthorizationFacts } from '../../platform/auth/policy';
import type { ServiceDeps } from '../../platform/deps';
import { addMs, DAY, HOUR } from '../../platform/clock';
import { newPublicId, newSecretToken, sha256 } from '../../platform/crypto';
import { inTransaction, isUniqueViolation, retryOnUniqueRandom } from '../../platform/db/transaction';
import type { Tx } from '../../platform/db/data-source';
import { DomainError } from '../../platform/errors';
import { checkEmail, checkName, hasControlCharacters } from '../../platform/validation';
import type { Lang } from '../../platform/i18n';
import { passwordResetMail, verificationMail } from '../../platform/mail/templates';
import { AccountEntity, AuthTokenEntity, EmailTokenEntity, type ClientKindName, type EmailTokenPurpose, type LanguageCode, type RoleName } from './entities';
import { hashPassword, passwordProblem, verifyAgainstDummy, verifyPassword } from './passwords';
import type { SeatLedger } from '../seats/ledger';
import { KnownClients, type ClientProof } from './known-clients';

/** Token lifetimes without use (R1.5). */
export const TOKEN_IDLE_MS: Record<ClientKindName, number> = { WEB: 14 * DAY, DESKTOP: 180 * DAY };
export const VERIFY_LINK_MS = 7 * DAY; // R1.3
export const RESET_LINK_MS = HOUR; // R1.7
/** R1.6 */
export const IP_FAILURE_LIMIT = 10;
export const IP_BLOCK_MS = HOUR;
export const ACCOUNT_FAILURE_LIMIT = 100;
export const ACCOUNT_WINDOW_MS = HOUR;
/** `last_used_at` is written at most this often per token: idle lifetimes are days long. */
const TOUCH_EVERY_MS = 60_000;
/** requestPasswordReset answers no sooner than this, whatever happened (R1.7: same time). */
const RESET_REQUEST_FLOOR_MS = 250;
const LOGIN_LOCK_NAMESPACE = 7_100_010;

export type AccountServiceDeps = ServiceDeps & { ledger: SeatLedger; appSecret: string };

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

function checkPassword(password: string, field: string[]): void {
  const problem = passwordProblem(password);
  if (problem) throw new DomainError('WEAK_PASSWORD', { reason: problem, field });
}

/** A row of `authenticate`'s query: the account's columns, and the token's as `t_…`. */
interface TokenAccountRow {
  t_id: string;
  t_client: ClientKindName;
  t_created_at: Date;
  t_last_used_at: Date;
  id: string;
  user_id: string;
  email: string | null;
  email_normalized: string | null;
  name: string | null;
  language: LanguageCode;
  password_hash: string | null;
  email_verified_at: Date | null;
  roles: RoleName[];
  created_at: Date;
  updated_at: Date;
  deleted_at: Date | null;
}

export class AccountService {
  /** Where authorization decisions read organizations and memberships. */
  private readonly facts: AuthorizationFacts;
  /** R1.6: browsers and apps that logged in before, exempt from the account-wide block. */
  readonly knownClients: KnownClients;

  constructor(private readonly deps: AccountServiceDeps) {
    this.facts = databaseFacts(deps.ds.manager);
    this.knownClients = new KnownClients(deps.appSecret);
  }

  /** A session for `principal` whose decisions read the database; `memoize`: one request's worth. */
  sessionFor(principal: Principal, options: { memoize?: boolean } = {}): Session {
    return new Session(principal, this.facts, options);
  }

  /** The session behind a bearer token, or undefined when it is unknown, revoked or idle too long. */
  async sessionOf(raw: string, options: { memoize?: boolean } = {}): Promise<Session | undefined> {
    const found = await this.authenticate(raw);
    return found ? this.sessionFor({ kind: 'account', account: found.account, tokenId: found.token.id, client: found.token.client }, options) : undefined;
  }

  private get now(): Date {
    return this.deps.clock.now();
  }

  // ---------------------------------------------------------------- registration and verification

  /** R1.1–R1.4: creates the account, logs it in with a WEB token, emails the verification link. */
  async register(
    session: Session,
    input: { email: string; password: string; name: string; language: LanguageCode },
    ipHash: string,
  ): Promise<{ token: string; account: AccountEntity }> {
    await session.assert('public');
    await this.deps.rateLimits.consume('register:ip', ipHash);
    const email = checkEmail(input.email, ['input', 'email']);
    const name = checkName(input.name, ['input', 'name']);
    checkPassword(input.password, ['input', 'password']);
    const normalized = normalizeEmail(email);
    const { ds, logger } = this.deps;
    if (await ds.getRepository(AccountEntity).existsBy({ emailNormalized: normalized })) {
      throw new DomainError('EMAIL_ALREADY_REGISTERED', { field: ['input', 'email'] });
    }
    const passwordHash = await hashPassword(input.password);
    try {
      return await retryOnUniqueRandom(['accounts_user_id_key'], () =>
        inTransaction(ds, logger, async (tx) => {
          const now = this.now;
          const account = tx.create(AccountEntity, {
            id: randomUUID(),
            userId: await this.freeUserId(tx),
            email,
            emailNormalized: normalized,
            name,
            language: input.language,
            passwordHash,
            emailVerifiedAt: null,
            roles: ['USER'],
            createdAt: now,
            updatedAt: now,
            deletedAt: null,
          });
          await tx.insert(AccountEntity, account);
          const link = await this.newEmailToken(tx, account.id, 'VERIFY_EMAIL', VERIFY_LINK_MS);
          const token = await this.issueToken(tx, account.id, 'WEB');
          await this.sendVerification(tx, account, link);
          session.vouchFor(account.id);
          return { token, account };
        }),
      );
    } catch (err) {
      // Two registrations of one address at the same moment: the unique index decides.
      if (isUniqueViolation(err, 'accounts_email_normalized_key')) {
        throw new DomainError('EMAIL_ALREADY_REGISTERED', { field: ['input', 'email'] });
      }
      throw err;
    }
  }

  /** R1.2: a public user ID not yet taken (16.7 million values; collisions are retried). */
  private async freeUserId(tx: EntityManager): Promise<string> {
    for (;;) {
      const candidate = newPublicId('A');
      if (!(await tx.getRepository(AccountEntity).existsBy({ userId: candidate }))) return candidate;
    }
  }

  /** R1.3: single use, 7 days. */
  async verifyEmail(session: Session, token: string): Promise<AccountEntity> {
    await session.assert('public');
    return inTransaction(this.deps.ds, this.deps.logger, async (tx) => {
      const row = await this.consumeEmailToken(tx, token, 'VERIFY_EMAIL');
      const account = await tx.findOneByOrFail(AccountEntity, { id: row.accountId });
      if (!account.emailVerifiedAt) {
        account.emailVerifiedAt = this.now;
        account.updatedAt = this.now;
        await tx.update(AccountEntity, { id: account.id }, { emailVerifiedAt: account.emailVerifiedAt, updatedAt: account.updatedAt });
      }
      session.vouchFor(account.id);
      return account;
    });
  }

  /** R1.3: a new link; the old one stops working. Already verified: nothing to send. */
  async resendVerificationEmail(session: Session): Promise<void> {
    const caller = await session.assert('account:self');
    await this.deps.rateLimits.consume('verification-resend:account', caller.id);
    await inTransaction(this.deps.ds, this.deps.logger, async (tx) => {
      const account = await tx.findOneByOrFail(AccountEntity, { id: caller.id });
      if (account.emailVerifiedAt) return;
      const link = await this.newEmailToken(tx, account.id, 'VERIFY_EMAIL', VERIFY_LINK_MS);
      await this.sendVerification(tx, account, link);
    });
  }

  /** Queues the verification mail in `tx` (the outbox sends it once `tx` has committed). */
  private async sendVerification(tx: Tx, account: AccountEntity, token: string): Promise<void> {
    const url = `${this.deps.publicUrl}/verify-email?token=${encodeURIComponent(token)}`;
    const mail = verificationMail(account.language, account.name ?? '', url);
    await this.deps.mailer.send(tx, { to: account.email!, ...mail, kind: 'verify-email', link: url });
  }

  // ---------------------------------------------------------------- login and tokens

  /**
   * R1.5 and R1.6. The password is checked outside any transaction (argon2 takes tens of
   * milliseconds and must not hold a database connection); the outcome is then decided and recorded
   * under the account's advisory lock, so that every attempt is counted exactly, also when one
   * document carries several aliased `login` fields or many requests arrive at once. An attempt
   * that finds a block answers LOGIN_BLOCKED whatever its password. Failures are committed before
   * the answer is given. A client that proves an earlier successful login (`proof`: the device cookie
   * or the desktop app's device ID, known-clients.ts) is not stopped by the account-wide block, only
   * by its own address's count; a successful login answers a fresh device cookie.
   */
  async login(
    session: Session,
    input: { email: string; password: string; client: ClientKindName },
    ipHash: string,
    proof: ClientProof = {},
  ): Promise<{ token: string; account: AccountEntity; deviceCookie?: string }> {
    await session.assert('public');
    const { ds, logger } = this.deps;
    await this.deps.rateLimits.consume('login:ip', ipHash);
    const account =
      hasControlCharacters(input.email) || input.email.length > 254
        ? null
        : await ds.getRepository(AccountEntity).findOneBy({ emailNormalized: normalizeEmail(input.email) });
    if (!account || !account.passwordHash) {
      await verifyAgainstDummy(input.password);
      throw new DomainError('INVALID_CREDENTIALS');
    }
    // A blocked attempt costs no hashing.
    const proofKey = await this.knownClients.proofKey(ds.manager, account.id, proof, this.now);
    const early = await this.blockedUntil(
      ds.manager,
      account.id,
      ipHash,
      this.now,
      await this.knownClients.stillTrusted(ds.manager, account.id, proofKey, this.now),
    );
    if (early) throw new DomainError('LOGIN_BLOCKED', { params: { until: early } });
    const passwordOk = await verifyPassword(account.passwordHash, input.password);
    type Outcome = { ok: true; token: string } | { ok: false; blockedUntil?: Date };
    const outcome = await inTransaction<Outcome>(ds, logger, async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [LOGIN_LOCK_NAMESPACE, account.id]);
      const now = this.now;
      const hourAgo = addMs(now, -ACCOUNT_WINDOW_MS);
      // Forget what no block window needs any more (R1.6: IP hashes only as long as needed).
      await tx.query('DELETE FROM login_failures WHERE account_id = $1 AND failed_at <= $2', [account.id, hourAgo]);
      await tx.query('DELETE FROM login_ip_throttle WHERE account_id = $1 AND (blocked_until <= $2 OR (blocked_until IS NULL AND updated_at <= $3))', [
        account.id,
        now,
        hourAgo,
      ]);
      const [ipRow] = await tx.query<Array<{ consecutive_failures: number; blocked_until: Date | null }>>(
        'SELECT consecutive_failures, blocked_until FROM login_ip_throttle WHERE account_id = $1 AND ip_hash = $2',
        [account.id, ipHash],
      );
      const known = await this.knownClients.stillTrusted(tx, account.id, proofKey, now);
      const blockedUntil = await this.blockedUntil(tx, account.id, ipHash, now, known);
      if (blockedUntil) return { ok: false, blockedUntil };

      if (passwordOk) {
        await tx.query('DELETE FROM login_ip_throttle WHERE account_id = $1 AND ip_hash = $2', [account.id, ipHash]);
        await this.knownClients.remember(tx, account.id, proof, now);
        return { ok: true, token: await this.issueToken(tx, account.id, input.client) };
      }
      const failures = (ipRow?.consecutive_failures ?? 0) + 1;
      const blocksNow = failures >= IP_FAILURE_LIMIT ? addMs(now, IP_BLOCK_MS) : null;
      await tx.query(
        `INSERT INTO login_ip_throttle (account_id, ip_hash, consecutive_failures, blocked_until, updated_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (account_id, ip_hash) DO UPDATE
           SET consecutive_failures = EXCLUDED.consecutive_failures, blocked_until = EXCLUDED.blocked_until, updated_at = EXCLUDED.updated_at`,
        [account.id, ipHash, failures, blocksNow, now],
      );
      await tx.query('INSERT INTO login_failures (account_id, failed_at, proof_hash) VALUES ($1, $2, $3)', [account.id, now, proofKey ?? null]);
      return { ok: false };
    });
    if (outcome.ok) {
      session.vouchFor(account.id);
      return { token: outcome.token, account, deviceCookie: this.knownClients.cookieFor(account.id, this.now) };
    }
    if (outcome.blockedUntil) throw new DomainError('LOGIN_BLOCKED', { params: { until: outcome.blockedUntil } });
    throw new DomainError('INVALID_CREDENTIALS');
  }

  /** The end of the block this IP or the whole account is in (R1.6), if any; a known client is not in the account's. */
  private async blockedUntil(manager: EntityManager, accountId: string, ipHash: string, now: Date, knownClient: boolean): Promise<Date | undefined> {
    const [ipRow] = await manager.query<Array<{ blocked_until: Date | null }>>(
      'SELECT blocked_until FROM login_ip_throttle WHERE account_id = $1 AND ip_hash = $2',
      [accountId, ipHash],
    );
    if (ipRow?.blocked_until && ipRow.blocked_until > now) return ipRow.blocked_until;
    if (knownClient) return undefined;
    return this.accountBlockedUntil(manager, accountId, now);
  }

  /** The end of the 100-per-hour block, if the account is in one: the hour that saw 100 failures ends then. */
  private async accountBlockedUntil(tx: EntityManager, accountId: string, now: Date): Promise<Date | undefined> {
    const rows = await tx.query<Array<{ failed_at: Date }>>(
      'SELECT failed_at FROM login_failures WHERE account_id = $1 AND failed_at > $2 ORDER BY failed_at DESC OFFSET $3 LIMIT 1',
      [accountId, addMs(now, -ACCOUNT_WINDOW_MS), ACCOUNT_FAILURE_LIMIT - 1],
    );
    return rows[0] ? addMs(rows[0].failed_at, ACCOUNT_WINDOW_MS) : undefined;
  }

  /** Clears every login block of an account (R1.6, R8 support). */
  async clearLoginBlocks(tx: EntityManager, accountId: string): Promise<void> {
    await tx.query('DELETE FROM login_ip_throttle WHERE account_id = $1', [accountId]);
    await tx.query('DELETE FROM login_failures WHERE account_id = $1', [accountId]);
  }

  /** Periodic tidy-up of throttle rows no window needs (the login path also tidies per account). */
  async pruneLoginThrottle(): Promise<number> {
    const now = this.now;
    const hourAgo = addMs(now, -ACCOUNT_WINDOW_MS);
    // UPDATE and DELETE answer [rows, affected] through TypeORM's postgres driver.
    const a = await this.deps.ds.query<[unknown[], number | null]>('DELETE FROM login_failures WHERE failed_at <= $1', [hourAgo]);
    const b = await this.deps.ds.query<[unknown[], number | null]>(
      'DELETE FROM login_ip_throttle WHERE blocked_until <= $1 OR (blocked_until IS NULL AND updated_at <= $2)',
      [now, hourAgo],
    );
    return (a[1] ?? 0) + (b[1] ?? 0) + (await this.knownClients.prune(this.deps.ds.manager, now));
  }

  private async issueToken(tx: EntityManager, accountId: string, client: ClientKindName): Promise<string> {
    const raw = newSecretToken();
    const now = this.now;
    await tx.insert(AuthTokenEntity, {
      id: randomUUID(),
      accountId,
      tokenHash: sha256(raw),
      client,
      createdAt: now,
      lastUsedAt: now,
      revokedAt: null,
    });
    return raw;
  }

  /** The account and token behind a bearer value, or undefined when unknown, revoked or idle too long (R1.5). */
  async authenticate(raw: string): Promise<{ account: AccountEntity; token: AuthTokenEntity } | undefined> {
    const { ds } = this.deps;
    // Every request with a token runs this: one round trip for token and account together.
    const [row] = await ds.query<TokenAccountRow[]>(
      `SELECT t.id AS t_id, t.client AS t_client, t.created_at AS t_created_at, t.last_used_at AS t_last_used_at, a.*
         FROM auth_tokens t JOIN accounts a ON a.id = t.account_id
        WHERE t.token_hash = $1 AND t.revoked_at IS NULL`,
      [sha256(raw)],
    );
    if (!row) return undefined;
    const token = ds.getRepository(AuthTokenEntity).create({
      id: row.t_id,
      accountId: row.id,
      tokenHash: sha256(raw),
      client: row.t_client,
      createdAt: row.t_created_at,
      lastUsedAt: row.t_last_used_at,
      revokedAt: null,
    });
    const now = this.now;
    if (token.lastUsedAt.getTime() + TOKEN_IDLE_MS[token.client] <= now.getTime()) {
      await ds.getRepository(AuthTokenEntity).update({ id: token.id, revokedAt: IsNull() }, { revokedAt: now });
      return undefined;
    }
    if (row.deleted_at) return undefined;
    const account = ds.getRepository(AccountEntity).create({
      id: row.id,
      userId: row.user_id,
      email: row.email,
      emailNormalized: row.email_normalized,
      name: row.name,
      language: row.language,
      passwordHash: row.password_hash,
      emailVerifiedAt: row.email_verified_at,
      roles: row.roles,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
      deletedAt: row.deleted_at,
    });
    if (now.getTime() - token.lastUsedAt.getTime() >= TOUCH_EVERY_MS) {
      await ds.getRepository(AuthTokenEntity).update({ id: token.id }, { lastUsedAt: now });
      token.lastUsedAt = now;
    }
    return { account, token };
  }

  /** R1.5: revokes the token of this request. */
  async logout(session: Session): Promise<void> {
    const account = await session.assert('account:self');
    await this.deps.ds.getRepository(AuthTokenEntity).update({ id: session.tokenId!, revokedAt: IsNull() }, { revokedAt: this.now });
    this.deps.events.accountChanged(account.id);
  }

  /**
   * R4.11: ends every seat lease of the account (owner devices included; an offline-bound seat
   * stays, R6.4) and revokes every desktop token and every other browser's token; the browser
   * token making the request stays, so that the portal page that asked keeps working.
   */
  async logoutEverywhere(session: Session): Promise<{ revokedTokens: number; endedLeases: number }> {
    const account = await session.assert('account:self');
    return inTransaction(this.deps.ds, this.deps.logger, async (tx, afterCommit) => {
      const keep = session.principal.kind === 'account' && session.principal.client === 'WEB' ? session.tokenId : undefined;
      const result = await tx.query<[unknown[], number | null]>(
        `UPDATE auth_tokens SET revoked_at = $2 WHERE account_id = $1 AND revoked_at IS NULL AND ($3::uuid IS NULL OR id <> $3::uuid)`,
        [account.id, this.now, keep ?? null],
      );
      const ended = await this.deps.ledger.endAccountSeats({ tx, afterCommit }, account.id, 'LOGGED_OUT');
      afterCommit(() => this.deps.events.accountChanged(account.id));
      return { revokedTokens: result[1] as number, endedLeases: ended.length };
    });
  }

  // ---------------------------------------------------------------- password reset

  /**
   * R1.7: the same answer whether or not the address has an account, and the same time: both paths
   * do one lookup and a write-sized transaction, mail goes out after the answer, and the answer is
   * never given before a fixed floor.
   */
  async requestPasswordReset(session: Session, email: string, ipHash: string): Promise<void> {
    await session.assert('public');
    const started = performance.now();
    const { ds, logger } = this.deps;
    // Per requesting address, and per address and email (R1.6): strangers elsewhere cannot use up the owner's resets.
    await this.deps.rateLimits.consume('password-reset:ip', ipHash);
    await this.deps.rateLimits.consume('password-reset:email-ip', `${sha256(normalizeEmail(email)).toString('base64url')}:${ipHash}`);
    await inTransaction(ds, logger, async (tx) => {
      const account = hasControlCharacters(email) || email.length > 254 ? null : await tx.findOneBy(AccountEntity, { emailNormalized: normalizeEmail(email) });
      if (!account || !account.email) {
        await tx.query('SELECT 1');
        return;
      }
      const link = await this.newEmailToken(tx, account.id, 'RESET_PASSWORD', RESET_LINK_MS);
      const url = `${this.deps.publicUrl}/reset-password?token=${encodeURIComponent(link)}`;
      const mail = passwordResetMail(account.language, account.name ?? '', url);
      await this.deps.mailer.send(tx, { to: account.email, ...mail, kind: 'reset-password', link: url });
    });
    const rest = RESET_REQUEST_FLOOR_MS - (performance.now() - started);
    if (rest > 0) await new Promise((r) => setTimeout(r, rest));
  }

  /** R1.7: single use, 60 minutes, and every token of the account is revoked. */
  async resetPassword(session: Session, token: string, newPassword: string, ipHash: string): Promise<void> {
    await session.assert('public');
    checkPassword(newPassword, ['input', 'newPassword']);
    await this.deps.rateLimits.consume('password-reset:ip', ipHash);
    // Hashing is the expensive part: only for a link that can still be used.
    const open = await this.deps.ds
      .getRepository(EmailTokenEntity)
      .findOneBy({ tokenHash: sha256(token.trim()), purpose: 'RESET_PASSWORD', consumedAt: IsNull() });
    if (!open || open.expiresAt <= this.now) throw new DomainError('INVALID_TOKEN', { field: ['token'] });
    const passwordHash = await hashPassword(newPassword);
    await inTransaction(this.deps.ds, this.deps.logger, async (tx, afterCommit) => {
      const row = await this.consumeEmailToken(tx, token, 'RESET_PASSWORD');
      afterCommit(() => this.deps.events.accountChanged(row.accountId));
      const now = this.now;
      // Whoever holds the link has shown control of the mailbox, so the address counts as verified.
      await tx.query('UPDATE accounts SET password_hash = $2, updated_at = $3, email_verified_at = COALESCE(email_verified_at, $3) WHERE id = $1', [
        row.accountId,
        passwordHash,
        now,
      ]);
      await tx.query('UPDATE auth_tokens SET revoked_at = $2 WHERE account_id = $1 AND revoked_at IS NULL', [row.accountId, now]);
      // Every token is gone, so every device is logged out: its seats end as for logging out
      // everywhere (R4.11; an offline-bound seat stays, R6.4).
      await this.deps.ledger.endAccountSeats({ tx, afterCommit }, row.accountId, 'LOGGED_OUT');
      await this.clearLoginBlocks(tx, row.accountId);
    });
  }

  // ---------------------------------------------------------------- emailed single-use tokens

  /** Issues a link token; any earlier open token of the same purpose is voided (R1.3, R1.7). */
  private async newEmailToken(tx: EntityManager, accountId: string, purpose: EmailTokenPurpose, lifetimeMs: number): Promise<string> {
    const now = this.now;
    await tx.update(EmailTokenEntity, { accountId, purpose, consumedAt: IsNull() }, { consumedAt: now });
    const raw = newSecretToken();
    await tx.insert(EmailTokenEntity, {
      id: randomUUID(),
      accountId,
      purpose,
      tokenHash: sha256(raw),
      createdAt: now,
      expiresAt: addMs(now, lifetimeMs),
      consumedAt: null,
    });
    return raw;
  }

  private async consumeEmailToken(tx: EntityManager, raw: string, purpose: EmailTokenPurpose): Promise<EmailTokenEntity> {
    const now = this.now;
    const row = await tx
      .getRepository(EmailTokenEntity)
      .createQueryBuilder('t')
      .setLock('pessimistic_write')
      .where('t.token_hash = :hash AND t.purpose = :purpose', { hash: sha256(raw.trim()), purpose })
      .getOne();
    if (!row || row.consumedAt || row.expiresAt <= now) throw new DomainError('INVALID_TOKEN', { field: ['token'] });
    await tx.update(EmailTokenEntity, { id: row.id }, { consumedAt: now });
    return row;
  }

  // ---------------------------------------------------------------- profile

  /** R1.8: name and language change; the email address does not. */
  async updateProfile(session: Session, input: { name?: string | null; language?: LanguageCode | null }): Promise<AccountEntity> {
    const caller = await session.assert('account:use');
    const changes: Partial<AccountEntity> = {};
    if (input.name !== undefined && input.name !== null) changes.name = checkName(input.name, ['input', 'name']);
    if (input.language !== undefined && input.language !== null) changes.language = input.language;
    return inTransaction(this.deps.ds, this.deps.logger, async (tx) => {
      if (Object.keys(changes).length > 0) {
        await tx.update(AccountEntity, { id: caller.id }, { ...changes, updatedAt: this.now });
      }
      return tx.findOneByOrFail(AccountEntity, { id: caller.id });
    });
  }

  /** The caller's own account, fresh from the database. */
  async me(session: Session): Promise<AccountEntity | null> {
    // Nobody logged in: null, as the schema says (not an error), decided by the same rule.
    if (!(await session.can('account:self'))) return null;
    return this.deps.ds.getRepository(AccountEntity).findOneBy({ id: session.account!.id });
  }

  async byIds(ids: readonly string[]): Promise<Array<AccountEntity | null>> {
    const rows = await this.deps.ds.getRepository(AccountEntity).findBy({ id: In([...ids]) });
    const byId = new Map(rows.map((r) => [r.id, r]));
    return ids.map((id) => byId.get(id) ?? null);
  }

  // ---------------------------------------------------------------- operator commands

  /** R8: grants the support role (command line only). */
  async grantSupport(email: string): Promise<AccountEntity> {
    return inTransaction(this.deps.ds, this.deps.logger, async (tx) => {
      const account = await tx.findOneBy(AccountEntity, { emailNormalized: normalizeEmail(email) });
      if (!account) throw new Error(`No account has the email address ${email}`);
      if (!account.roles.includes('SUPPORT')) {
        account.roles = [...account.roles, 'SUPPORT'];
        await tx.update(AccountEntity, { id: account.id }, { roles: account.roles, updatedAt: this.now });
      }
      return account;
    });
  }

  /**
   * R1.9, R8.5: erases the account's personal data inside the caller's transaction (support's
   * deletion, after its own checks): email, name and password hash go, every token is revoked and
   * every pending email link voided, login throttles and known devices are forgotten. The row stays,
   * with its user ID, so that seat history and audit entries still say which account they concern.
   */
  async erase(tx: EntityManager, accountId: string): Promise<void> {
    const now = this.now;
    await tx.query(
      `UPDATE accounts SET email = NULL, email_normalized = NULL, name = NULL, password_hash = NULL, roles = '{USER}', updated_at = $2, deleted_at = $2
        WHERE id = $1`,
      [accountId, now],
    );
    await tx.query('UPDATE auth_tokens SET revoked_at = $2 WHERE account_id = $1 AND revoked_at IS NULL', [accountId, now]);
    await tx.query('DELETE FROM email_tokens WHERE account_id = $1', [accountId]);
    await tx.query('DELETE FROM login_known_devices WHERE account_id = $1', [accountId]);
    await this.clearLoginBlocks(tx, accountId);
    // What licenses kept of the person: the purchaser address of the trials and revoked licenses the account still holds.
    await tx.query('UPDATE licenses SET purchaser_email = NULL WHERE owner_account_id = $1', [accountId]);
  }

  /** The language of emails and messages for an account. */
  static languageOf(account: AccountEntity | undefined): Lang | undefined {
    return account?.language;
  }
}
