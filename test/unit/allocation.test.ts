import { needsReconcile, pickLicense, reconcile, seatsUsed } from '../../src/modules/seats/allocation';
import type { LicenseEntity } from '../../src/modules/licenses/entities';

const now = new Date('2030-01-01T00:00:00Z');
const lic = (id: string, seats: number, extra: Partial<LicenseEntity> = {}) =>
  ({ id, type: 'COMMERCIAL', seats, platforms: ['WINDOWS', 'MAC'], expiresAt: null, revokedAt: null, ...extra }) as LicenseEntity;
const lease = (id: string, kind: 'OWNER' | 'MEMBER' | 'OFFLINE_BOUND', licenseId: string, minutes: number) => ({
  id,
  kind,
  platform: 'WINDOWS' as const,
  licenseId,
  acquiredAt: new Date(now.getTime() - minutes * 60_000),
});

describe('R4.4 seat arithmetic (pure)', () => {
  it('counts member leases one seat each and owner devices one seat per two', () => {
    expect(seatsUsed([{ kind: 'MEMBER' }, { kind: 'MEMBER' }])).toBe(2);
    expect(seatsUsed([{ kind: 'OWNER' }, { kind: 'OWNER' }])).toBe(1);
    expect(seatsUsed([{ kind: 'OWNER' }, { kind: 'OFFLINE_BOUND' }, { kind: 'OWNER' }])).toBe(2);
  });

  it('puts an owner device on the free half of a seat before taking a new one', () => {
    const a = lic('a', 1);
    const b = lic('b', 1);
    const taken = new Map([['b', [{ kind: 'OWNER' as const }]]]);
    expect(pickLicense([a, b], taken, 'OWNER', 'WINDOWS')!.id).toBe('b');
    expect(pickLicense([a, b], taken, 'MEMBER', 'WINDOWS')!.id).toBe('a');
  });

  it('R4.10 ends the newest member sessions first when a license has expired', () => {
    const permanent = lic('p', 2);
    const expired = lic('e', 2, { expiresAt: new Date(now.getTime() - 1000) });
    const leases = [lease('m1', 'MEMBER', 'p', 40), lease('m2', 'MEMBER', 'p', 30), lease('m3', 'MEMBER', 'e', 20), lease('m4', 'MEMBER', 'e', 10)];
    expect(needsReconcile([permanent, expired], leases, now)).toBe(true);
    const { keep, end } = reconcile([permanent, expired], leases, now);
    expect([...keep.keys()].sort()).toEqual(['m1', 'm2']);
    expect(end.sort()).toEqual(['m3', 'm4']);
  });

  it('keeps owner devices before members, and pairs an owner’s devices spread over two licenses', () => {
    const a = lic('a', 1);
    const b = lic('b', 1);
    const spread = [lease('o1', 'OWNER', 'a', 30), lease('o2', 'OWNER', 'b', 20)];
    const { keep } = reconcile([a, b], spread, now);
    expect(keep.get('o1')).toBe(keep.get('o2'));
    const crowded = [lease('m1', 'MEMBER', 'a', 50), lease('o1', 'OWNER', 'a', 10)];
    expect(reconcile([a], crowded, now).end).toEqual(['m1']);
  });

  it('places a displaced lease on the narrowest license, leaving the wider one to a lease only it can carry', () => {
    const both = lic('a', 1, { platforms: ['WINDOWS', 'MAC'] });
    const windowsOnly = lic('b', 1, { platforms: ['WINDOWS'] });
    const gone = lic('c', 1, { expiresAt: new Date(now.getTime() - 1000) });
    const m1 = lease('m1', 'MEMBER', 'c', 30); // Windows, displaced
    const m2 = { ...lease('m2', 'MEMBER', 'a', 10), platform: 'MAC' as const };
    const { keep, end } = reconcile([both, windowsOnly, gone], [m1, m2], now);
    expect(end).toEqual([]);
    expect(keep.get('m1')).toBe('b');
    expect(keep.get('m2')).toBe('a');
  });
});
