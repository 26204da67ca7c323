import { Client } from 'pg';
import { acquire, join, newAccount, newOrganization, type NewAccount } from '../helpers/factories';
import { startTestServer, type TestServer } from '../helpers/server';

/**
 * Constant query counts (R3.4 `usingSeat`, R7.1 `entitlement`): a page of 100 members or 100 live
 * leases costs the same number of SQL statements as a page of 10, and the contract's largest page
 * passes the cost limit. Statements are counted where every one of them goes: `pg`'s
 * `Client.prototype.query`, in this process (the test server runs in it; jobs are off).
 */
jest.setTimeout(180_000);

let t: TestServer;
let statements = 0;
let counting = false;
// eslint-disable-next-line @typescript-eslint/unbound-method -- kept to be called with .apply on the right client
const original = Client.prototype.query;

beforeAll(async () => {
  t = await startTestServer();
  Client.prototype.query = function (this: Client, ...args: unknown[]) {
    // The wait-list's reaction to the setup's pool changes may still run meanwhile (coalesced,
    // after a delay): it is no statement of the request's (which reads no wait-list).
    const first = args[0];
    const text = typeof first === 'string' ? first : ((first as { text?: string } | undefined)?.text ?? '');
    // Nor is the mail outbox's worker polling its queue (pg-boss, schema tessera_outbox, every 2 s).
    if (counting && !text.includes('waitlist_entries') && !text.includes('tessera_outbox')) statements += 1;
    return (original as (...a: unknown[]) => unknown).apply(this, args);
  } as typeof Client.prototype.query;
});
afterAll(async () => {
  Client.prototype.query = original;
  await t?.stop();
});

/** Statements the server ran for one request. */
async function counted<T>(request: () => Promise<T>): Promise<{ result: T; statements: number }> {
  statements = 0;
  counting = true;
  try {
    const result = await request();
    return { result, statements };
  } finally {
    counting = false;
  }
}

// Every field the contract names for a member, on a page of the given size (a literal, as the cost limit reads it).
const membersPage = (first: number) => `query($id: ID!) { organization(id: $id) { id name members(first: ${first}) {
  totalCount pageInfo { hasNextPage endCursor }
  edges { cursor node { id status isAdmin joinedAt usingSeat organization { id name licenseType adminContactEmail } account { userId name email } } } } } }`;

// Every field the contract names for a lease, entitlement included.
const LEASES = `query($id: ID!) { organization(id: $id) { activeLeases {
  id kind platform acquiredAt lastHeartbeatAt expiresAt reservedUntil heartbeatIntervalSeconds endedAt endReason
  license { id licenseId type seats expiresAt } organization { id name }
  entitlement { canUse canSave expiresAt expiresSoon trialDaysRemaining license { id } owner { userId } } } } }`;

async function poolWithLeases(n: number): Promise<{ owner: NewAccount; organizationId: string }> {
  const { owner, organization } = await newOrganization(t, { seats: n });
  for (let i = 0; i < n; i += 20) {
    const batch = await Promise.all(Array.from({ length: Math.min(20, n - i) }, () => newAccount(t)));
    await Promise.all(batch.map((m) => join(t, m.token, organization.inviteCode)));
    const leases = await Promise.all(batch.map((m, k) => acquire(t, m.token, `pc-${i + k}`)));
    for (const l of leases) expect(l.errors).toEqual([]);
  }
  return { owner, organizationId: organization.id };
}

describe('constant statements per page', () => {
  let small: { owner: NewAccount; organizationId: string };
  let large: { owner: NewAccount; organizationId: string };
  beforeAll(async () => {
    small = await poolWithLeases(10);
    large = await poolWithLeases(100);
  });

  it('R3.4 a page of 100 members with every contract field passes the cost limit and costs as many statements as a page of 10', async () => {
    await t.gql('{ me { id } }', {}, { token: large.owner.token }); // the token's touch, uncounted (see below)
    const ten = await counted(() => t.gql(membersPage(10), { id: large.organizationId }, { token: large.owner.token }));
    const hundred = await counted(() => t.gql(membersPage(100), { id: large.organizationId }, { token: large.owner.token }));
    expect(hundred.result.errors).toBeUndefined();
    const edges = hundred.result.data!.organization.members.edges as Array<{ node: { usingSeat: boolean } }>;
    expect(edges).toHaveLength(100);
    expect(edges.every((e) => e.node.usingSeat)).toBe(true);
    expect(ten.result.data!.organization.members.edges).toHaveLength(10);
    // The counter sees the server's statements (the token's, the organization's, the page's…).
    expect(ten.statements).toBeGreaterThanOrEqual(3);
    expect(hundred.statements).toBe(ten.statements);
    expect(hundred.statements).toBeLessThanOrEqual(12);
  });

  it('R7.1 100 live leases with their entitlements cost as many statements as 10', async () => {
    // Each token once uncounted: a token unused for a minute is touched (`last_used_at`) by its next
    // request, one statement that says nothing about the page (the setup can take longer than that).
    await t.gql('{ me { id } }', {}, { token: small.owner.token });
    await t.gql('{ me { id } }', {}, { token: large.owner.token });
    const ten = await counted(() => t.gql(LEASES, { id: small.organizationId }, { token: small.owner.token }));
    const hundred = await counted(() => t.gql(LEASES, { id: large.organizationId }, { token: large.owner.token }));
    expect(hundred.result.errors).toBeUndefined();
    expect(ten.result.data!.organization.activeLeases).toHaveLength(10);
    const leases = hundred.result.data!.organization.activeLeases as Array<{ entitlement: { canUse: boolean; owner: { userId: string } } }>;
    expect(leases).toHaveLength(100);
    expect(leases.every((l) => l.entitlement.canUse && l.entitlement.owner.userId === large.owner.account.userId)).toBe(true);
    // The counter sees the server's statements (the token's, the organization's, the page's…).
    expect(ten.statements).toBeGreaterThanOrEqual(3);
    expect(hundred.statements).toBe(ten.statements);
    expect(hundred.statements).toBeLessThanOrEqual(12);
  });

  it('a query over the cost limit is refused as too expensive, not as a syntax error', async () => {
    // Ten aliased pages of 100 members: ten times the largest page the contract needs.
    const fields =
      'edges { node { id status isAdmin joinedAt usingSeat organization { id name licenseType adminContactEmail } account { userId name email } } }';
    const aliases = Array.from({ length: 10 }, (_, i) => `p${i}: members(first: 100) { ${fields} }`).join(' ');
    const r = await t.gql(`query($id: ID!) { organization(id: $id) { ${aliases} } }`, { id: large.organizationId }, { token: large.owner.token });
    expect(r.status).toBe(400);
    expect(r.errors).toHaveLength(1);
    expect(r.errors![0].message).not.toMatch(/syntax/i);
    expect(r.errors![0].message).toMatch(/costs \d+, more than the 5000 allowed/);
    expect(r.errors![0].extensions).toMatchObject({ code: 'GRAPHQL_VALIDATION_FAILED', reason: 'QUERY_COST', maxCost: 5000 });
  });
});
