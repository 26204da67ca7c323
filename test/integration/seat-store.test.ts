import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import type { EntityManager } from 'typeorm';
import { seatsUsed } from '../../src/modules/seats/allocation';
import { ACCOUNT_LOCK_NAMESPACE, POOL_LOCK_NAMESPACE, lockAccounts, lockKey, lockPools } from '../../src/modules/seats/ledger/locks';
import * as store from '../../src/modules/seats/ledger/store';
import { issueLicense, newAccount } from '../helpers/factories';
import { startTestServer, type TestServer } from '../helpers/server';

/**
 * The ledger's SQL and locks, directly against PostgreSQL (architecture.md: "Its SQL lives in one
 * place and is tested directly"): the SQL seat arithmetic agrees with the TypeScript one, writes
 * stay inside the locked pools, the lock order is enforced, and a pool lock really excludes.
 */
jest.setTimeout(120_000);

let t: TestServer;
let owner: { id: string; userId: string };
let other: { id: string };
let licenseId: string;

beforeAll(async () => {
  t = await startTestServer();
  const a = await newAccount(t);
  owner = a.account;
  other = (await newAccount(t)).account;
  licenseId = (await issueLicense(t, { seats: 50, redeemForUserId: owner.userId })).id;
});
afterAll(async () => {
  await t?.stop();
});

/** Runs `work` in a transaction that is always rolled back: each property run starts from nothing. */
async function rolledBack(work: (tx: EntityManager) => Promise<void>): Promise<void> {
  await t.server.ds
    .transaction(async (tx) => {
      await work(tx);
      throw new RollBack();
    })
    .catch((err: unknown) => {
      if (!(err instanceof RollBack)) throw err;
    });
}
class RollBack extends Error {}

const leaseArb = fc.record({
  kind: fc.constantFrom('OWNER' as const, 'MEMBER' as const, 'OFFLINE_BOUND' as const),
  // Minutes relative to now: ended or lapsed in the past, or live.
  endedAgo: fc.option(fc.integer({ min: 1, max: 600 }), { nil: null, freq: 3 }),
  lapsesIn: fc.integer({ min: -600, max: 600 }),
});

describe('the SQL seat arithmetic agrees with allocation.ts', () => {
  it('usedSeatsSql and licensesOverCapacity count as seatsUsed does (members a seat each, owner devices one per two)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(leaseArb, { maxLength: 40 }), fc.integer({ min: 1, max: 30 }), async (leases, seats) => {
        await rolledBack(async (tx) => {
          const now = t.server.clock.now();
          await tx.query('UPDATE licenses SET seats = $2 WHERE id = $1', [licenseId, seats]);
          const locks = await lockPools(tx, t.server.clock, [owner.id]);
          const live: Array<{ kind: (typeof leases)[number]['kind'] }> = [];
          for (const [i, l] of leases.entries()) {
            const lapsesAt = l.kind === 'MEMBER' ? new Date(now.getTime() + l.lapsesIn * 60_000) : null;
            await store.insertLease(locks, {
              id: randomUUID(),
              accountId: owner.id,
              poolAccountId: owner.id,
              organizationId: null,
              licenseId,
              deviceHash: `device-${i}`,
              platform: 'WINDOWS',
              kind: l.kind,
              acquiredAt: new Date(now.getTime() - 3600_000),
              lapsesAt,
            });
            if (l.endedAgo !== null) {
              await tx.query(`UPDATE seat_leases SET ended_at = $2, end_reason = 'CLOSED' WHERE device_hash = $1`, [
                `device-${i}`,
                new Date(now.getTime() - l.endedAgo * 60_000),
              ]);
            }
            if (l.endedAgo === null && (lapsesAt === null || lapsesAt > now)) live.push(l);
          }
          const [row] = await tx.query<
            Array<{
              used: number;
            }>
          >(`SELECT ${store.usedSeatsSql('l', '$2')}::int AS used FROM licenses l WHERE l.id = $1`, [licenseId, now]);
          expect(row.used).toBe(seatsUsed(live));
          expect(await store.licensesOverCapacity(tx, now)).toBe(seatsUsed(live) > seats ? 1 : 0);
          expect((await store.liveLeasesOfPool(tx, owner.id, now)).length).toBe(live.length);
        });
      }),
      { numRuns: 40 },
    );
  });
});

describe('writes take the pool lock and stay inside it', () => {
  it('a write for a pool the proof does not cover throws, and endLeases touches only the locked pools (or the locked accounts’ leases)', async () => {
    await rolledBack(async (tx) => {
      const locks = await lockPools(tx, t.server.clock, [other.id]);
      const lease = {
        id: randomUUID(),
        accountId: owner.id,
        poolAccountId: owner.id,
        organizationId: null,
        licenseId,
        deviceHash: 'x',
        platform: 'WINDOWS' as const,
        kind: 'OWNER' as const,
        acquiredAt: locks.now,
        lapsesAt: null,
      };
      await expect(store.insertLease(locks, lease)).rejects.toThrow(/is not locked/);
      await expect(store.touchLease(locks, lease, null)).rejects.toThrow(/is not locked/);
    });
    await rolledBack(async (tx) => {
      const mine = await lockPools(tx, t.server.clock, [owner.id]);
      const lease = await store.insertLease(mine, {
        id: randomUUID(),
        accountId: owner.id,
        poolAccountId: owner.id,
        organizationId: null,
        licenseId,
        deviceHash: 'y',
        platform: 'WINDOWS',
        kind: 'OWNER',
        acquiredAt: mine.now,
        lapsesAt: null,
      });
      // Asked by ID, the update still cannot reach past the proof's pools.
      const elsewhere = { ...mine, pools: new Set([other.id]) } as typeof mine;
      expect(await store.endLeases(elsewhere, { ids: [lease.id] }, 'CLOSED')).toEqual([]);
      expect(await store.endLeases(mine, { ids: [lease.id] }, 'CLOSED')).toMatchObject([
        { id: lease.id, poolAccountId: owner.id, lease: { endReason: 'CLOSED' } },
      ]);
    });
    // With an account's lock (enough to free seats), only that account's leases end.
    await rolledBack(async (tx) => {
      const pools = await lockPools(tx, t.server.clock, [owner.id]);
      const lease = await store.insertLease(pools, {
        id: randomUUID(),
        accountId: owner.id,
        poolAccountId: owner.id,
        organizationId: null,
        licenseId,
        deviceHash: 'z',
        platform: 'WINDOWS',
        kind: 'OWNER',
        acquiredAt: pools.now,
        lapsesAt: null,
      });
      const others = { tx, accounts: new Set([other.id]), now: pools.now } as unknown as Parameters<typeof store.endLeases>[0];
      expect(await store.endLeases(others, { ids: [lease.id] }, 'CLOSED')).toEqual([]);
      const mine = { tx, accounts: new Set([owner.id]), now: pools.now } as unknown as Parameters<typeof store.endLeases>[0];
      expect(await store.endLeases(mine, { ids: [lease.id] }, 'CLOSED')).toHaveLength(1);
    });
  });

  it('the lock order is enforced: accounts before pools, each once per transaction', async () => {
    await rolledBack(async (tx) => {
      await lockPools(tx, t.server.clock, [owner.id]);
      await expect(lockAccounts(tx, t.server.clock, [owner.id])).rejects.toThrow(/lock order/);
      await expect(lockPools(tx, t.server.clock, [other.id])).rejects.toThrow(/lock order/);
    });
    await rolledBack(async (tx) => {
      const mine = await lockAccounts(tx, t.server.clock, [owner.id]);
      await expect(lockAccounts(tx, t.server.clock, [other.id])).rejects.toThrow(/lock order/);
      const locks = await lockPools(mine, t.server.clock, [other.id, owner.id]);
      expect([...locks.pools].sort()).toEqual([other.id, owner.id].sort());
    });
  });

  it('lock keys are the UUID’s first 32 bits, signed; a non-UUID is refused', () => {
    expect(lockKey('00000001-0000-4000-8000-000000000000')).toBe(1);
    expect(lockKey('ffffffff-0000-4000-8000-000000000000')).toBe(-1);
    expect(() => lockKey('not-a-uuid')).toThrow(/not a UUID/);
    expect(ACCOUNT_LOCK_NAMESPACE).not.toBe(POOL_LOCK_NAMESPACE);
  });

  it('a pool lock excludes: a second transaction waits until the first ends, then reads the time anew', async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let firstLocked!: () => void;
    const locked = new Promise<void>((r) => (firstLocked = r));
    const order: string[] = [];
    const first = t.server.ds.transaction(async (tx) => {
      await lockPools(tx, t.server.clock, [owner.id]);
      firstLocked();
      await held;
      order.push('first ends');
    });
    await locked;
    const second = t.server.ds.transaction(async (tx) => {
      const locks = await lockPools(tx, t.server.clock, [owner.id]);
      order.push('second granted');
      return locks.now;
    });
    // The second is waiting for the advisory lock (seen by PostgreSQL, not guessed by a sleep).
    for (;;) {
      const [row] = await t.server.ds.query<Array<{ n: number }>>(
        `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND classid = $1::oid AND objid = $2::oid`,
        [POOL_LOCK_NAMESPACE, lockKey(owner.id) >>> 0],
      );
      if (row.n > 0) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    await t.advance(30);
    const before = t.server.clock.now();
    release();
    await first;
    const grantedAt = await second;
    expect(order).toEqual(['first ends', 'second granted']);
    expect(grantedAt.getTime()).toBeGreaterThanOrEqual(before.getTime());
  });
});
