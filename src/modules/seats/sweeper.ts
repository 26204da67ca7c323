import type { SeatCore } from './core';
import { lockPools } from './ledger/locks';
import * as store from './ledger/store';

/**
 * Housekeeping (R4.3, R4.8). Lapsed leases stopped counting when they lapsed; the sweeper only
 * records them as ended (TIMED_OUT, at their lapse) and tells subscribers. It works pool by pool
 * under the pool's lock like every other write, one pool per transaction, so that it never holds
 * one pool while it waits for another. It also measures R4.8 in production: licenses carrying more live leases than
 * their seats (a gauge that must stay 0).
 */

const POOLS_PER_ROUND = 1_000;
// One pool per transaction: the sweep never holds one pool's lock while waiting for another's.
const POOLS_PER_TRANSACTION = 1;

export interface SweepResult {
  ended: number;
  licensesOverCapacity: number;
}

export async function sweepLapsed(core: SeatCore): Promise<SweepResult> {
  const manager = core.deps.ds.manager;
  const pools = await store.poolsWithLapsedLeases(manager, core.now, POOLS_PER_ROUND);
  let ended = 0;
  for (let i = 0; i < pools.length; i += POOLS_PER_TRANSACTION) {
    const batch = pools.slice(i, i + POOLS_PER_TRANSACTION);
    ended += await core.deps.ledger.run(async (tx, effects) => {
      const locks = await lockPools(tx, core.deps.clock, batch);
      const rows = await store.endLapsed(locks);
      effects.ended(rows);
      return rows.length;
    });
  }
  return { ended, licensesOverCapacity: await store.licensesOverCapacity(manager, core.now) };
}
