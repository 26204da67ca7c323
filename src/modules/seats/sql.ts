/**
 * The hand-written SQL of the seat hot paths, kept in one place (architecture.md: "Hot paths may
 * use hand-written SQL"). The seat arithmetic here must match allocation.ts: member leases take a
 * seat each, owner devices (OWNER, OFFLINE_BOUND) one seat per two.
 */

/** Used seats of license `l`, counting leases live at `$now`. */
export function usedSeatsSql(licenseAlias: string, nowParam: string): string {
  return `(SELECT count(*) FILTER (WHERE x.kind = 'MEMBER') + ceil(count(*) FILTER (WHERE x.kind <> 'MEMBER') / 2.0)
             FROM seat_leases x
            WHERE x.license_id = ${licenseAlias}.id AND x.ended_at IS NULL AND (x.lapses_at IS NULL OR x.lapses_at > ${nowParam}))`;
}

/**
 * A heartbeat without the pool lock, in one statement: it extends the caller's lease only while
 * the lease is live and not about to lapse ($5: now plus a safety margin, so that no concurrent
 * acquire can have counted it as lapsed), and its license is active, within its seats, and not a
 * trial (a trial's heartbeat may use up an active day, R5.3).
 * No row back: take the locked path.
 * $1 lease, $2 account, $3 now, $4 lapse by heartbeat, $5 now + margin.
 */
export const HEARTBEAT_FAST_SQL = `
  UPDATE seat_leases s
     SET last_heartbeat_at = $3,
         lapses_at = CASE WHEN s.kind = 'MEMBER' THEN GREATEST($4::timestamptz, s.reserved_until) END
    FROM licenses l
   WHERE s.id = $1 AND s.account_id = $2 AND s.ended_at IS NULL
     AND (s.lapses_at IS NULL OR s.lapses_at > $5)
     AND l.id = s.license_id AND l.type <> 'TRIAL' AND l.revoked_at IS NULL AND (l.expires_at IS NULL OR l.expires_at > $3)
     AND ${usedSeatsSql('l', '$3')} <= l.seats
  RETURNING s.*`;

/** A seat_leases row (snake_case) as the entity's fields. */
export function leaseFields(row: Record<string, any>) {
  return {
    id: row.id as string,
    accountId: row.account_id as string | null,
    poolAccountId: row.pool_account_id as string,
    organizationId: row.organization_id as string | null,
    licenseId: row.license_id as string,
    deviceHash: row.device_hash as string,
    platform: row.platform,
    kind: row.kind,
    acquiredAt: row.acquired_at as Date,
    lastHeartbeatAt: row.last_heartbeat_at as Date,
    reservedUntil: row.reserved_until as Date | null,
    lapsesAt: row.lapses_at as Date | null,
    endedAt: row.ended_at as Date | null,
    endReason: row.end_reason,
    offlineNonce: (row.offline_nonce ?? null) as string | null,
    offlineIssuedAt: (row.offline_issued_at ?? null) as Date | null,
  };
}

/** Rows of an `UPDATE … RETURNING` through TypeORM's postgres driver (it answers `[rows, count]`). */
export function returningRows(result: unknown): Array<Record<string, any>> {
  if (Array.isArray(result) && result.length === 2 && Array.isArray(result[0]) && typeof result[1] === 'number') {
    return result[0] as Array<Record<string, any>>;
  }
  return result as Array<Record<string, any>>;
}

/** A licenses row (snake_case) as the entity's fields. */
export function licenseFields(row: Record<string, any>) {
  return {
    id: row.id as string,
    licenseId: row.license_id as string,
    key: row.license_key as string,
    type: row.type,
    seats: row.seats as number,
    platforms: row.platforms,
    expiresAt: row.expires_at as Date | null,
    orderReference: row.order_reference as string,
    purchaserEmail: row.purchaser_email as string | null,
    language: row.language,
    ownerAccountId: row.owner_account_id as string | null,
    redeemedAt: row.redeemed_at as Date | null,
    revokedAt: row.revoked_at as Date | null,
    createdAt: row.created_at as Date,
  };
}

export const LEASE_COLUMNS =
  'id, account_id, pool_account_id, organization_id, license_id, device_hash, platform, kind, acquired_at, last_heartbeat_at, reserved_until, lapses_at, ended_at, end_reason, offline_nonce, offline_issued_at';

export const INSERT_LEASE_SQL = `INSERT INTO seat_leases (${LEASE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`;

/** The parameters of INSERT_LEASE_SQL, in column order. */
export function leaseParams(l: ReturnType<typeof leaseFields>): unknown[] {
  return [l.id, l.accountId, l.poolAccountId, l.organizationId, l.licenseId, l.deviceHash, l.platform, l.kind, l.acquiredAt, l.lastHeartbeatAt, l.reservedUntil, l.lapsesAt, l.endedAt, l.endReason, l.offlineNonce, l.offlineIssuedAt];
}
