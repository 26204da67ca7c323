import { randomUUID } from 'node:crypto';
import { In, type DataSource, type EntityManager } from 'typeorm';
import type { Session } from '../../platform/auth/session';
import { addMs, type Clock } from '../../platform/clock';
import { inTransaction, retryOnUniqueRandom } from '../../platform/db/transaction';
import { DomainError } from '../../platform/errors';
import type { Logger } from '../../platform/logger';
import { AccountEntity } from '../accounts/entities';
import { LicenseEntity } from '../licenses/entities';
import { isActive } from '../licenses/rules';
import type { LicenseService } from '../licenses/service';
import { TrialEntity } from './entities';
import { ACTIVE_WINDOW_MS, activeDayEffect, TRIAL_ACTIVE_DAYS, TRIAL_LENGTH_MS, trialRefusal } from './rules';

export interface TrialServiceDeps {
  ds: DataSource;
  clock: Clock;
  logger: Logger;
  licenses: LicenseService;
}

export interface TrialStatusView {
  license: LicenseEntity;
  activeDaysUsed: number;
  activeDaysTotal: number;
  expiresAt: Date;
  expired: boolean;
}

export class TrialService {
  constructor(private readonly deps: TrialServiceDeps) {}

  private get now(): Date {
    return this.deps.clock.now();
  }

  /** R5.1, R5.2: a personal TRIAL license, 1 seat, desktop platforms, 90 days, 5 active days. */
  async requestTrial(session: Session): Promise<LicenseEntity> {
    const caller = await session.assert('account:use');
    return retryOnUniqueRandom(['licenses_license_id_key', 'licenses_license_key_key'], () =>
      inTransaction(this.deps.ds, this.deps.logger, async (tx) => {
        // The account row serializes the account's licensing changes: two requests at once grant
        // one trial. FOR NO KEY UPDATE: it must not conflict with the key-share lock of inserts
        // that reference the account (seat leases, memberships, audit entries).
        const account = await tx
          .getRepository(AccountEntity)
          .createQueryBuilder('a')
          .setLock('for_no_key_update')
          .where('a.id = :id', { id: caller.id })
          .getOneOrFail();
        const now = this.now;
        const licenses = await tx.findBy(LicenseEntity, { ownerAccountId: account.id });
        const trials = await tx.findBy(TrialEntity, { accountId: account.id });
        const refusal = trialRefusal(
          {
            holdsActiveNonTrial: licenses.some((l) => l.type !== 'TRIAL' && isActive(l, now)),
            trials: trials.map((t) => ({
              createdAt: t.createdAt,
              over: !isActive(
                licenses.find((l) => l.id === t.licenseId)!,
                now,
              ),
            })),
          },
          now,
        );
        if (refusal) throw new DomainError('TRIAL_NOT_ALLOWED', { reason: refusal });
        const license = await this.deps.licenses.createOwned(tx, account, {
          type: 'TRIAL',
          seats: 1,
          platforms: ['MAC', 'WINDOWS'],
          expiresAt: addMs(now, TRIAL_LENGTH_MS),
          orderReference: `trial:${randomUUID()}`,
        });
        await tx.insert(TrialEntity, {
          licenseId: license.id,
          accountId: account.id,
          activeDaysUsed: 0,
          windowEndsAt: null,
          endsAt: license.expiresAt!,
          createdAt: now,
        });
        return license;
      }),
    );
  }

  /**
   * R5.3, on acquire and heartbeat of a trial seat, inside the seat's transaction. One UPDATE uses
   * the next day only when no window is open, so concurrent calls never use a day twice. When the
   * fifth day is used, the trial license ends with that day's window.
   */
  async useActiveDay(tx: EntityManager, licenseId: string, now: Date): Promise<'INSIDE_WINDOW' | 'USED_DAY' | 'OVER'> {
    const windowEnd = addMs(now, ACTIVE_WINDOW_MS);
    const used = await tx.query<[Array<{ active_days_used: number }>, number]>(
      `UPDATE trials SET active_days_used = active_days_used + 1, window_ends_at = $2
        WHERE license_id = $1 AND (window_ends_at IS NULL OR window_ends_at <= $3) AND active_days_used < $4
        RETURNING active_days_used`,
      [licenseId, windowEnd, now, TRIAL_ACTIVE_DAYS],
    );
    const rows = Array.isArray(used[0]) ? used[0] : (used as unknown as Array<{ active_days_used: number }>);
    if (rows.length === 1) {
      if (rows[0].active_days_used >= TRIAL_ACTIVE_DAYS) {
        await tx.query('UPDATE licenses SET expires_at = LEAST(expires_at, $2) WHERE id = $1', [licenseId, windowEnd]);
      }
      return 'USED_DAY';
    }
    const trial = await tx.findOneBy(TrialEntity, { licenseId });
    if (!trial) return 'INSIDE_WINDOW';
    return activeDayEffect(trial, now) === 'INSIDE_WINDOW' ? 'INSIDE_WINDOW' : 'OVER';
  }

  /** R5.5: the account's latest trial, for the portal ("4 of 5 active days", end date). */
  async statusOf(session: Session, accountId: string): Promise<TrialStatusView | null> {
    await session.assert('account:read', accountId);
    const trial = await this.deps.ds.getRepository(TrialEntity).findOne({ where: { accountId }, order: { createdAt: 'DESC' } });
    if (!trial) return null;
    const license = await this.deps.ds.getRepository(LicenseEntity).findOneByOrFail({ id: trial.licenseId });
    return {
      license,
      activeDaysUsed: trial.activeDaysUsed,
      activeDaysTotal: TRIAL_ACTIVE_DAYS,
      expiresAt: trial.endsAt,
      expired: !isActive(license, this.now),
    };
  }

  /** Active days left on a trial license, for the entitlement (R7.1). */
  /** Remaining active days of these trial licenses (null where a license is no trial), in one statement. */
  async daysRemainingOf(licenseIds: readonly string[]): Promise<Array<number | null>> {
    const trials = await this.deps.ds.getRepository(TrialEntity).findBy({ licenseId: In([...licenseIds]) });
    const byLicense = new Map(trials.map((t) => [t.licenseId, TRIAL_ACTIVE_DAYS - t.activeDaysUsed]));
    return licenseIds.map((id) => byLicense.get(id) ?? null);
  }

  async daysRemaining(licenseId: string): Promise<number | null> {
    const trial = await this.deps.ds.getRepository(TrialEntity).findOneBy({ licenseId });
    return trial ? TRIAL_ACTIVE_DAYS - trial.activeDaysUsed : null;
  }

  /** Whether the account's licenses are only trials that are over (acquire then says TRIAL_EXPIRED). */
  async onlyExpiredTrials(tx: EntityManager, accountId: string, now: Date): Promise<boolean> {
    const licenses = await tx.findBy(LicenseEntity, { ownerAccountId: accountId });
    return licenses.some((l) => l.type === 'TRIAL') && !licenses.some((l) => isActive(l, now));
  }
}
