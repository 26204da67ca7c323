import type { EntityManager } from 'typeorm';
import type { AccountEntity } from '../../modules/accounts/entities';
import { MembershipEntity, OrganizationEntity, type MembershipStatusName } from '../../modules/organizations/entities';
import { AccessError, DomainError } from '../errors';
import type { Principal } from './session';

/**
 * Every action a caller may be allowed, by name: one union, decided in one place (`decide` below).
 * Default deny: an action not named here cannot be asked for, and `decide` has no default branch, so
 * a new action does not compile until its rule is written. Services start every public method with
 * `await session.assert(action, resource)`; `test/unit/authorization-coverage.test.ts` checks that
 * they do, and `test/integration/authorization-matrix.test.ts` checks every schema element against
 * every role.
 */
export type Action =
  /** Public entry points: register, log in, verify, reset, the offline public key, the test clock. */
  | 'public'
  /** A logged-in account, verified or not (R1.3: log in, see itself, re-send the email, log out). */
  | 'account:self'
  /** A logged-in account with a verified address, acting for itself (redeem, seats, trials, joining). */
  | 'account:use'
  /** Read an account's licenses, memberships, organization and trial: the account itself, or support. */
  | 'account:read'
  /** Read a license found by its ID: its owner, or support (others: NOT_FOUND). */
  | 'license:read'
  /** See a license's key: its owner, support, and the shop (in the answer to `issueLicense`). */
  | 'license:key'
  /** See the email address of a license's owner: the owner and support. */
  | 'license:owner-email'
  /** Issue licenses: the shop's token. */
  | 'license:issue'
  /** Act on a seat lease: its holder (others: NOT_FOUND). */
  | 'lease:hold'
  /** Read an organization in full: its owner and co-administrators, and support (others: NOT_FOUND). */
  | 'organization:read'
  /** Change an organization: its owner and active co-administrators (others: NOT_FOUND). */
  | 'organization:admin'
  /** Act as a member of an organization (leave it, wait for its seats); blocked members included. */
  | 'organization:member'
  /** The support desk (R8). */
  | 'support';

export type AdminRole = 'OWNER' | 'CO_ADMIN';

/** What each action is asked about. */
export interface Resources {
  public: undefined;
  'account:self': undefined;
  'account:use': undefined;
  'account:read': string;
  'license:read': LicenseRef;
  'license:key': LicenseRef;
  'license:owner-email': LicenseRef;
  'license:issue': undefined;
  'lease:hold': LeaseRef;
  'organization:read': string;
  'organization:admin': string;
  'organization:member': string;
  support: undefined;
}

export interface LicenseRef {
  ownerAccountId: string | null;
}
export interface LeaseRef {
  accountId: string | null;
}

/** What an allowed action hands back: what was found out while deciding it. */
export interface Grants {
  public: Principal;
  'account:self': AccountEntity;
  'account:use': AccountEntity;
  'account:read': { accountId: string };
  'license:read': Principal;
  'license:key': Principal;
  'license:owner-email': Principal;
  'license:issue': Principal;
  'lease:hold': AccountEntity;
  'organization:read': { org: OrganizationEntity; role: AdminRole | 'SUPPORT' };
  'organization:admin': { org: OrganizationEntity; role: AdminRole; caller: AccountEntity };
  'organization:member': { org: OrganizationEntity; membership: MembershipEntity; caller: AccountEntity };
  support: AccountEntity;
}

/** The caller's standing in one organization, read once per request (memoized by the session). */
export interface Standing {
  org: OrganizationEntity;
  membership: MembershipEntity | null;
}

/** Where decisions read the facts they need: the database, within the caller's transaction when it has one. */
export interface AuthorizationFacts {
  standing(manager: EntityManager | undefined, organizationId: string, accountId: string): Promise<Standing | null>;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function databaseFacts(defaultManager: EntityManager): AuthorizationFacts {
  return {
    async standing(manager, organizationId, accountId) {
      if (!UUID.test(organizationId)) return null;
      const m = manager ?? defaultManager;
      const org = await m.findOneBy(OrganizationEntity, { id: organizationId });
      if (!org) return null;
      const membership = await m.findOneBy(MembershipEntity, { organizationId, accountId });
      return { org, membership };
    },
  };
}

/** The denial for callers who are not even in the running: nobody logged in, or not verified. */
function account(principal: Principal): AccountEntity {
  if (principal.kind !== 'account') throw new AccessError('UNAUTHENTICATED');
  return principal.account;
}
function verified(principal: Principal): AccountEntity {
  const a = account(principal);
  if (!a.emailVerifiedAt) throw new DomainError('EMAIL_NOT_VERIFIED');
  return a;
}
/** Support: the role, on a verified account (an unverified one may do nothing beyond R1.3). */
function isSupport(principal: Principal): boolean {
  return principal.kind === 'account' && principal.account.roles.includes('SUPPORT') && principal.account.emailVerifiedAt !== null;
}
/** The license is the caller's: its token's account, or an account this request proved to be (`vouched`). */
function isOwnerOf(principal: Principal, license: LicenseRef, vouched?: ReadonlySet<string>): boolean {
  if (license.ownerAccountId === null) return false;
  if (vouched?.has(license.ownerAccountId)) return true;
  return principal.kind === 'account' && license.ownerAccountId === principal.account.id;
}
function adminRole(standing: Standing, accountId: string): AdminRole | undefined {
  if (standing.org.ownerAccountId === accountId) return 'OWNER';
  const m = standing.membership;
  return m && m.status === ('ACTIVE' satisfies MembershipStatusName) && m.isAdmin ? 'CO_ADMIN' : undefined;
}

export interface Decision<A extends Action> {
  principal: Principal;
  action: A;
  resource: Resources[A];
  facts: AuthorizationFacts;
  manager?: EntityManager;
  /** The caller's standing per organization, shared by the decisions of one request. */
  memo?: Map<string, Promise<Standing | null>>;
  /** Accounts the request proved to be (Session.vouchFor). */
  vouched?: ReadonlySet<string>;
}

async function standingOf(d: Decision<Action>, organizationId: string, accountId: string): Promise<Standing | null> {
  // Inside a transaction the answer is read there (it sees what the transaction changed; no row is
  // locked for it); otherwise once per request.
  if (d.manager || !d.memo) return d.facts.standing(d.manager, organizationId, accountId);
  let found = d.memo.get(organizationId);
  if (!found) {
    found = d.facts.standing(undefined, organizationId, accountId);
    d.memo.set(organizationId, found);
  }
  return found;
}

/**
 * The one place that decides every action. It throws the answer a refused caller gets: who is not
 * logged in is UNAUTHENTICATED, who has not verified is EMAIL_NOT_VERIFIED (R1.3), the shop and
 * support operations are FORBIDDEN to others, and what someone else holds is NOT_FOUND (the same
 * answer as for what does not exist, so that IDs cannot be probed).
 */
export async function decide<A extends Action>(d: Decision<A>): Promise<Grants[A]> {
  const p = d.principal;
  // The switch is over a union: each branch returns its own action's grant.
  const action: Action = d.action;
  switch (action) {
    case 'public':
      return p as Grants[A];
    case 'account:self':
      return account(p) as Grants[A];
    case 'account:use':
      return verified(p) as Grants[A];
    case 'account:read': {
      const accountId = d.resource as Resources['account:read'];
      // The account a login, registration or verification link of this very request proved.
      if (d.vouched?.has(accountId)) return { accountId } as Grants[A];
      const caller = account(p);
      if (caller.id !== accountId && !isSupport(p)) throw new AccessError('FORBIDDEN');
      return { accountId } as Grants[A];
    }
    case 'license:read': {
      verified(p);
      if (!isOwnerOf(p, d.resource as LicenseRef) && !isSupport(p)) throw new AccessError('NOT_FOUND');
      return p as Grants[A];
    }
    case 'license:key': {
      if (p.kind === 'shop' || isOwnerOf(p, d.resource as LicenseRef, d.vouched) || isSupport(p)) return p as Grants[A];
      throw new AccessError(p.kind === 'anonymous' ? 'UNAUTHENTICATED' : 'FORBIDDEN');
    }
    case 'license:owner-email': {
      if (isOwnerOf(p, d.resource as LicenseRef, d.vouched) || isSupport(p)) return p as Grants[A];
      throw new AccessError(p.kind === 'anonymous' ? 'UNAUTHENTICATED' : 'FORBIDDEN');
    }
    case 'license:issue': {
      if (p.kind === 'shop') return p as Grants[A];
      throw new AccessError(p.kind === 'anonymous' ? 'UNAUTHENTICATED' : 'FORBIDDEN');
    }
    case 'lease:hold': {
      const caller = verified(p);
      if ((d.resource as LeaseRef).accountId !== caller.id) throw new AccessError('NOT_FOUND');
      return caller as Grants[A];
    }
    case 'organization:read':
    case 'organization:admin':
    case 'organization:member': {
      const caller = verified(p);
      const standing = await standingOf(d, d.resource as string, caller.id);
      if (!standing) throw new AccessError('NOT_FOUND');
      const role = adminRole(standing, caller.id);
      if (action === 'organization:read') {
        if (role) return { org: standing.org, role } as Grants[A];
        if (isSupport(p)) return { org: standing.org, role: 'SUPPORT' } as Grants[A];
      } else if (action === 'organization:admin') {
        if (role) return { org: standing.org, role, caller } as Grants[A];
      } else if (standing.membership) {
        return { org: standing.org, membership: standing.membership, caller } as Grants[A];
      }
      throw new AccessError('NOT_FOUND');
    }
    case 'support': {
      const caller = verified(p);
      if (!isSupport(p)) throw new AccessError('FORBIDDEN');
      return caller as Grants[A];
    }
  }
}
