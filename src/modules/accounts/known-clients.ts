import { createHmac } from 'node:crypto';
import type { EntityManager } from 'typeorm';
import { addMs, DAY, HOUR } from '../../platform/clock';
import { keyedHash, safeEqual } from '../../platform/crypto';

/**
 * R1.6 (amended), after OWASP's device-cookie design: a browser or desktop app that logged in to an
 * account successfully within the last 30 days proves it, and is then not stopped by the account-wide
 * block (someone who knows only the email cannot keep the owner out), only by its own per-IP count.
 *
 * - On the web, the proof is a signed cookie (`tessera_device`, HttpOnly, SameSite=Strict, Secure
 *   behind HTTPS) issued with every successful login: `v1.<account id>.<issued ms>.<HMAC>`, the HMAC
 *   keyed from APP_SECRET, so it cannot be forged or moved to another account, and it says nothing
 *   a reader could use (it grants no access: the password is still needed).
 * - A desktop app sends its device ID with `login`; its keyed hash is remembered for the account at
 *   each successful login (`login_known_devices`), never the raw ID (R1.10).
 */
export const KNOWN_CLIENT_MS = 30 * DAY;
/** Failures within the hour through one proof after which it proves nothing until the hour is over. */
export const PROOF_FAILURE_LIMIT = 10;
export const DEVICE_COOKIE = 'tessera_device';

export interface ClientProof {
  /** The `tessera_device` cookie the browser sent, if any. */
  deviceCookie?: string;
  /** The device ID a desktop app sent with `login`, if any. */
  deviceId?: string | null;
}

export class KnownClients {
  constructor(private readonly appSecret: string) {}

  private mac(payload: string): string {
    return createHmac('sha256', this.appSecret).update(`device-cookie\0${payload}`, 'utf8').digest('base64url');
  }

  /** A fresh proof for a browser that just logged in to `accountId`. */
  cookieFor(accountId: string, now: Date): string {
    const payload = `v1.${accountId}.${now.getTime()}`;
    return `${payload}.${this.mac(payload)}`;
  }

  /** Whether a cookie proves a successful login to `accountId` within the last 30 days. */
  cookieProves(cookie: string | undefined, accountId: string, now: Date): boolean {
    if (!cookie || cookie.length > 200) return false;
    const parts = cookie.split('.');
    if (parts.length !== 4 || parts[0] !== 'v1' || parts[1] !== accountId || !/^\d{1,15}$/.test(parts[2])) return false;
    if (!safeEqual(this.mac(parts.slice(0, 3).join('.')), parts[3])) return false;
    const issued = Number(parts[2]);
    return issued <= now.getTime() && now.getTime() - issued < KNOWN_CLIENT_MS;
  }

  private deviceHash(deviceId: string): string {
    return keyedHash(this.appSecret, 'login-device', deviceId.trim());
  }

  /**
   * The proof's key when `proof` shows a client that logged in to the account successfully within 30
   * days (a keyed hash of the cookie, or the device's hash), else undefined. Failures through it are
   * recorded under this key (`login_failures.proof_hash`).
   */
  async proofKey(manager: EntityManager, accountId: string, proof: ClientProof, now: Date): Promise<string | undefined> {
    if (this.cookieProves(proof.deviceCookie, accountId, now)) return keyedHash(this.appSecret, 'device-cookie-key', proof.deviceCookie!);
    const deviceId = proof.deviceId?.trim();
    if (!deviceId || deviceId.length > 256) return undefined;
    const hash = this.deviceHash(deviceId);
    const rows = await manager.query<unknown[]>('SELECT 1 FROM login_known_devices WHERE account_id = $1 AND device_hash = $2 AND last_login_at > $3', [
      accountId,
      hash,
      addMs(now, -KNOWN_CLIENT_MS),
    ]);
    return rows.length > 0 ? hash : undefined;
  }

  /**
   * Whether a proof still exempts from the account-wide block: fewer than PROOF_FAILURE_LIMIT failures
   * through it within the hour (OWASP: a device cookie is locked out on its own), so that a stolen
   * cookie or a leaked device ID allows ten tries an hour however many addresses try.
   */
  async stillTrusted(manager: EntityManager, accountId: string, proofKey: string | undefined, now: Date): Promise<boolean> {
    if (!proofKey) return false;
    const [row] = await manager.query<Array<{ n: number }>>(
      'SELECT count(*)::int AS n FROM login_failures WHERE account_id = $1 AND proof_hash = $2 AND failed_at > $3',
      [accountId, proofKey, addMs(now, -HOUR)],
    );
    return row.n < PROOF_FAILURE_LIMIT;
  }

  /** After a successful login: remembers the desktop app's device (the cookie is issued by the caller). */
  async remember(manager: EntityManager, accountId: string, proof: ClientProof, now: Date): Promise<void> {
    const deviceId = proof.deviceId?.trim();
    if (!deviceId || deviceId.length > 256) return;
    await manager.query(
      `INSERT INTO login_known_devices (account_id, device_hash, last_login_at) VALUES ($1, $2, $3)
       ON CONFLICT (account_id, device_hash) DO UPDATE SET last_login_at = EXCLUDED.last_login_at`,
      [accountId, this.deviceHash(deviceId), now],
    );
  }

  /** The periodic tidy-up: devices that prove nothing any more. */
  async prune(manager: EntityManager, now: Date): Promise<number> {
    const r = await manager.query<[unknown[], number | null]>('DELETE FROM login_known_devices WHERE last_login_at <= $1', [addMs(now, -KNOWN_CLIENT_MS)]);
    return r[1] ?? 0;
  }
}
