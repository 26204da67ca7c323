import type { TestServer } from './server';

/**
 * R4.8 "at no instant": over the whole lease history of a database, no license ever carried more
 * live leases than its seats (member leases a seat each, an owner's devices a seat per two). A
 * lease was live from `acquired_at` until it ended, or lapsed, or is live still: the half-open
 * interval [acquired_at, coalesce(ended_at, lapses_at, ∞)). A lease's lapse only ever moves while
 * it is live (a lapsed lease is ended, never extended), so its last `lapses_at` bounds it.
 * Checked by a sweep over the start and end instants of each license's leases, ends before starts
 * at equal instants. Valid for histories where no lease moved to another license (R4.10 packing).
 */
export interface Overlap {
  licenseId: string;
  seats: number;
  at: string;
  used: number;
}

export async function overlapsBeyondSeats(t: TestServer, poolAccountId?: string): Promise<Overlap[]> {
  const rows = await t.server.ds.query<Array<{ license_id: string; seats: number; kind: string; acquired_at: Date; until: Date | null }>>(
    `SELECT s.license_id, l.seats, s.kind, s.acquired_at, coalesce(s.ended_at, s.lapses_at) AS until
       FROM seat_leases s JOIN licenses l ON l.id = s.license_id
      WHERE $1::uuid IS NULL OR s.pool_account_id = $1::uuid`,
    [poolAccountId ?? null],
  );
  const byLicense = new Map<string, typeof rows>();
  for (const r of rows) byLicense.set(r.license_id, [...(byLicense.get(r.license_id) ?? []), r]);
  const found: Overlap[] = [];
  for (const [licenseId, leases] of byLicense) {
    const events: Array<{ at: number; delta: 1 | -1; owner: boolean }> = [];
    for (const l of leases) {
      const owner = l.kind !== 'MEMBER';
      const start = l.acquired_at.getTime();
      const end = l.until ? l.until.getTime() : Infinity;
      if (end <= start) continue;
      events.push({ at: start, delta: 1, owner }, { at: end, delta: -1, owner });
    }
    events.sort((a, b) => a.at - b.at || a.delta - b.delta);
    let members = 0;
    let owners = 0;
    for (const e of events) {
      if (e.owner) owners += e.delta;
      else members += e.delta;
      const used = members + Math.ceil(owners / 2);
      if (e.delta === 1 && used > leases[0].seats) found.push({ licenseId, seats: leases[0].seats, at: new Date(e.at).toISOString(), used });
    }
  }
  return found;
}

/** The server's `/metrics` value of a counter or gauge with these labels (0 when absent). */
export async function metricValue(t: TestServer, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`${t.base}/metrics`)).text();
  const wanted = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .join(',');
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-z_]+)(\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    if ((m[3] ?? '') === wanted) return Number(m[4]);
  }
  return 0;
}
