import { acquire, join, newAccount, newOrganization, release, seatsInUseByLicense, type AcquireResult, type NewAccount } from '../helpers/factories';
import { overlapsBeyondSeats } from '../helpers/lease-history';
import { startChild, stopChild, type Child } from '../helpers/child-server';
import { startTestServer, type GqlResult, type TestServer } from '../helpers/server';

/**
 * R4.8 under load: "at no instant does a pool have more live leases than its seats allow, however
 * many requests arrive at once and however many server instances serve them" (architecture.md,
 * "Seat allocation": hundreds of concurrent acquires, including from two server processes).
 * The clock is never advanced here: the second process has a test clock of its own.
 */
jest.setTimeout(240_000);

const POOL_SEATS = 15;
const RACERS = 300;

/**
 * 300 acquires at once queue on one pool's lock and on the connection pools; on a 2-core machine
 * shared with another test worker the last in line can wait longer than the production bounds (5 s
 * for a lock or a free connection, 15 s for a statement), and then answers
 * DATABASE_UNAVAILABLE, as it should (faults.database.test.ts tests that). These tests are about what
 * the race decides, so they wait longer. How long the line gets is issue 17's (a pool's acquire rate).
 */
const RACE_WAITS = { DB_LOCK_TIMEOUT_MS: '30000', DB_CONNECT_TIMEOUT_MS: '30000', DB_STATEMENT_TIMEOUT_MS: '60000' };

let t: TestServer;
let pool: Awaited<ReturnType<typeof newOrganization>>;
let people: NewAccount[];
/** Every account's token by account ID, to free whatever a failed round left behind. */
const tokens = new Map<string, string>();

/** Registers (argon2 for each), verifies and joins `n` members, 20 at a time. */
async function members(inviteCode: string, n: number): Promise<NewAccount[]> {
  const accounts: NewAccount[] = [];
  for (let i = 0; i < n; i += 20) {
    const batch = await Promise.all(Array.from({ length: Math.min(20, n - i) }, (_, k) => newAccount(t, { name: `Racer ${i + k}` })));
    const joined = await Promise.all(batch.map((a) => join(t, a.token, inviteCode)));
    for (const j of joined) expect(j.errors).toEqual([]);
    accounts.push(...batch);
  }
  for (const a of accounts) tokens.set(a.account.id, a.token);
  return accounts;
}

/** Live leases of a pool (its owner's account), from the database, at the test server's clock. */
async function liveLeasesOfPool(poolAccountId: string): Promise<Array<{ id: string; kind: string; account_id: string; license_id: string }>> {
  return t.server.ds.query(
    `SELECT id, kind, account_id, license_id FROM seat_leases
      WHERE pool_account_id = $1 AND ended_at IS NULL AND (lapses_at IS NULL OR lapses_at > $2)`,
    [poolAccountId, t.server.clock.now()],
  );
}

async function invariantHolds(): Promise<void> {
  const rows = await seatsInUseByLicense(t);
  for (const row of rows) expect(row.used).toBeLessThanOrEqual(row.seats);
  // Not only now: at no instant of the whole lease history (R4.8).
  expect(await overlapsBeyondSeats(t)).toEqual([]);
}

/**
 * Checks one race of `RACERS` members for `POOL_SEATS` seats from the answers and from the
 * database, and returns the winners (index into `people`, lease ID).
 */
async function expectExactlyFull(results: AcquireResult[]): Promise<Array<{ index: number; leaseId: string }>> {
  const winners = results.flatMap((r, index) => (r.lease ? [{ index, leaseId: r.lease.id }] : []));
  const losers = results.filter((r) => !r.lease);
  expect(winners).toHaveLength(POOL_SEATS);
  expect(losers).toHaveLength(RACERS - POOL_SEATS);
  // Every answer is either a lease or SEATS_EXHAUSTED, never both, never anything else.
  for (const r of results) {
    if (r.lease) {
      expect(r.errors).toEqual([]);
      expect(r.lease).toMatchObject({ kind: 'MEMBER', endedAt: null, organization: { id: pool.organization.id } });
    } else {
      expect(r.errors.map((e) => e.code)).toEqual(['SEATS_EXHAUSTED']);
      // Counted under the pool's lock: a refusal only ever sees a full pool.
      expect(r.seatUsage).toMatchObject({ organizationId: pool.organization.id, total: POOL_SEATS, inUse: POOL_SEATS, free: 0 });
    }
  }
  expect(new Set(winners.map((w) => w.leaseId)).size).toBe(POOL_SEATS);
  // Acquires on one pool are serialized: the winners saw 1, 2, ..., 15 seats in use.
  const seen = results
    .filter((r) => r.lease)
    .map((r) => r.seatUsage!.inUse)
    .sort((a, b) => a - b);
  expect(seen).toEqual(Array.from({ length: POOL_SEATS }, (_, i) => i + 1));

  const live = await liveLeasesOfPool(pool.owner.account.id);
  expect(live.map((l) => l.id).sort()).toEqual(winners.map((w) => w.leaseId).sort());
  expect(new Set(live.map((l) => l.account_id)).size).toBe(POOL_SEATS);
  await invariantHolds();
  const [license] = await seatsInUseByLicense(t).then((rows) => rows.filter((r) => r.license_id === pool.license.id));
  expect(license).toMatchObject({ seats: POOL_SEATS, used: POOL_SEATS });
  return winners;
}

/** Ends every live lease of a pool through the API (logging out, so that owner seats end too). */
async function freePool(poolAccountId: string): Promise<void> {
  const live = await liveLeasesOfPool(poolAccountId);
  await Promise.all(live.map((l) => release(t, tokens.get(l.account_id)!, l.id, true)));
}

async function releaseAll(winners: Array<{ index: number; leaseId: string }>): Promise<void> {
  const released = await Promise.all(winners.map((w) => release(t, people[w.index].token, w.leaseId)));
  for (const r of released) {
    expect(r.errors).toEqual([]);
    expect(r.lease).toMatchObject({ endReason: 'CLOSED' });
  }
  expect(await liveLeasesOfPool(pool.owner.account.id)).toEqual([]);
}

/** Three rounds of the owner's four devices racing twenty members for three seats. */
async function mixedRounds(small: Awaited<ReturnType<typeof newOrganization>>, crowd: NewAccount[]): Promise<void> {
  for (let round = 0; round < 3; round++) {
    const ownerDevices = [0, 1, 2, 3].map((d) => `owner-${round}-dev-${d}`);
    const requests: Array<Promise<{ who: 'owner' | 'member'; token: string; r: AcquireResult }>> = [];
    // Interleave: the owner's four devices among the twenty members.
    crowd.forEach((m, i) => {
      requests.push(acquire(t, m.token, `small-${round}-pc-${i}`).then((r) => ({ who: 'member' as const, token: m.token, r })));
      if (i % 5 === 2) {
        const d = ownerDevices[(i - 2) / 5];
        requests.push(
          acquire(t, small.owner.token, d, { platform: i % 2 ? 'MAC' : 'WINDOWS' }).then((r) => ({ who: 'owner' as const, token: small.owner.token, r })),
        );
      }
    });
    const results = await Promise.all(requests);
    expect(results).toHaveLength(24);
    for (const { r } of results) {
      if (!r.lease) expect(r.errors.map((e) => e.code)).toEqual(['SEATS_EXHAUSTED']);
      else expect(r.errors).toEqual([]);
    }
    const ownerWins = results.filter((x) => x.who === 'owner' && x.r.lease);
    const memberWins = results.filter((x) => x.who === 'member' && x.r.lease);
    for (const x of ownerWins) expect(x.r.lease!.kind).toBe('OWNER');
    for (const x of memberWins) expect(x.r.lease!.kind).toBe('MEMBER');
    // An owner device is refused only when the pool is full, and a half seat is never full for
    // the owner's next device: the owner ends with an even number of devices.
    expect(ownerWins.length % 2).toBe(0);
    expect(memberWins.length + ownerWins.length / 2).toBe(3);

    // From the database: the live leases are exactly those answered, and they fit.
    const live = await liveLeasesOfPool(small.owner.account.id);
    expect(live.map((l) => l.id).sort()).toEqual([...ownerWins, ...memberWins].map((x) => x.r.lease!.id).sort());
    const owners = live.filter((l) => l.kind !== 'MEMBER').length;
    expect(live.length - owners + Math.ceil(owners / 2)).toBeLessThanOrEqual(3);
    await invariantHolds();
    const [row] = (await seatsInUseByLicense(t)).filter((r) => r.license_id === small.license.id);
    expect(row).toMatchObject({ seats: 3, used: 3 });

    // Free everything for the next round: members close the app, the owner logs out on each device.
    await Promise.all([...ownerWins, ...memberWins].map((x) => release(t, x.token, x.r.lease!.id, x.who === 'owner')));
    expect(await liveLeasesOfPool(small.owner.account.id)).toEqual([]);
  }
}

beforeAll(async () => {
  t = await startTestServer(RACE_WAITS);
  pool = await newOrganization(t, { seats: POOL_SEATS, name: 'Race University' });
  tokens.set(pool.owner.account.id, pool.owner.token);
  people = await members(pool.organization.inviteCode, RACERS);
  expect(new Set(people.map((p) => p.account.id)).size).toBe(RACERS);
});

afterAll(async () => {
  await t?.stop();
});

describe('R4.8 concurrent acquires on one server', () => {
  it('R4.8 300 members racing for 15 seats: exactly 15 leases and 285 SEATS_EXHAUSTED, round after round', async () => {
    for (let round = 0; round < 3; round++) {
      try {
        const results = await Promise.all(people.map((p, i) => acquire(t, p.token, `round-${round}-pc-${i}`)));
        const winners = await expectExactlyFull(results);
        await releaseAll(winners);
      } finally {
        await freePool(pool.owner.account.id);
      }
    }
  });

  it('R4.4 R4.8 owner devices and members racing on a 3-seat pool: owner devices count half, the pool is exactly full', async () => {
    const small = await newOrganization(t, { seats: 3, name: 'Small Lab' });
    tokens.set(small.owner.account.id, small.owner.token);
    const crowd = await members(small.organization.inviteCode, 20);
    try {
      await mixedRounds(small, crowd);
    } finally {
      await freePool(small.owner.account.id);
    }
  });
});

// ---------------------------------------------------------------- a second server process

let child: Child | undefined;

/** The same helpers, through the second process. */
function through(c: Child): TestServer {
  return {
    ...t,
    url: c.url,
    async gql<T>(query: string, variables: Record<string, unknown> = {}, options: { token?: string } = {}): Promise<GqlResult<T>> {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (options.token) headers.authorization = `Bearer ${options.token}`;
      const res = await fetch(c.url, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
      const body = (await res.json()) as { data?: T; errors?: GqlResult['errors'] };
      return { status: res.status, data: body.data, errors: body.errors };
    },
  };
}

describe('R4.8 two server processes on one database', () => {
  let other: TestServer;

  beforeAll(async () => {
    child = await startChild({ DATABASE_URL: t.databaseUrl, SMTP_URL: t.mail.url, ...RACE_WAITS });
    other = through(child);
    // The second process sees the same accounts, tokens and organization.
    const r = await other.gql<{ me: { id: string } }>('{ me { id } }', {}, { token: people[0].token });
    expect(r.data?.me.id).toBe(people[0].account.id);
  });

  afterAll(async () => {
    if (child) await stopChild(child);
  });

  it('R4.8 the 300-member race split across both processes: exactly 15 leases, 285 SEATS_EXHAUSTED', async () => {
    for (let round = 0; round < 2; round++) {
      try {
        const results = await Promise.all(people.map((p, i) => acquire(i % 2 === 0 ? t : other, p.token, `two-proc-${round}-pc-${i}`)));
        const winners = await expectExactlyFull(results);
        await releaseAll(winners);
      } finally {
        await freePool(pool.owner.account.id);
      }
    }
  });

  it('R4.2 R4.8 50 concurrent acquires by one account on one device, split across both processes, give one lease', async () => {
    const a = people[7];
    const [{ n: before }] = await t.server.ds.query('SELECT count(*)::int AS n FROM seat_leases WHERE account_id = $1', [a.account.id]);
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => acquire(i % 2 === 0 ? t : other, a.token, 'the-one-device')));
    for (const r of results) expect(r.errors).toEqual([]);
    expect(new Set(results.map((r) => r.lease!.id)).size).toBe(1);
    const [{ n: after }] = await t.server.ds.query('SELECT count(*)::int AS n FROM seat_leases WHERE account_id = $1', [a.account.id]);
    expect(after - before).toBe(1);
    const live = await liveLeasesOfPool(pool.owner.account.id);
    expect(live.filter((l) => l.account_id === a.account.id).map((l) => l.id)).toEqual([results[0].lease!.id]);
    await invariantHolds();
  });

  it('both processes hash device IDs alike: a lease taken through one is found again through the other', async () => {
    const a = people[8];
    const first = await acquire(t, a.token, 'shared-device');
    const again = await acquire(other, a.token, 'shared-device');
    expect(first.errors).toEqual([]);
    expect(again.lease?.id).toBe(first.lease!.id);
    expect(child!.proc.exitCode).toBeNull();
  });
});
