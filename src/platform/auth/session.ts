import type { EntityManager } from 'typeorm';
import type { AccountEntity, ClientKindName, RoleName } from '../../modules/accounts/entities';
import { AccessError, DomainError } from '../errors';
import { decide, type Action, type AuthorizationFacts, type Grants, type Resources, type Standing } from './policy';

export type Principal = { kind: 'anonymous' } | { kind: 'account'; account: AccountEntity; tokenId: string; client: ClientKindName } | { kind: 'shop' };

/** The arguments of `assert` for one action: its resource when it has one, and the transaction to read in. */
type AssertArgs<A extends Action> = Resources[A] extends undefined ? [] : [resource: Resources[A], tx?: EntityManager];

const noFacts: AuthorizationFacts = {
  standing: () => Promise.reject(new Error('this session cannot look up organizations')),
};

/**
 * Who is calling, built once per request (or per WebSocket operation) from the bearer token.
 * Every service method starts by asking it for an action by name (`await session.assert(…)`); the
 * policy (`policy.ts`) decides, and refuses with the error the caller gets.
 */
export class Session {
  /** Organization standings read by this request's decisions (absent: every decision reads afresh). */
  private readonly memo?: Map<string, Promise<Standing | null>>;
  /** Accounts this request proved to be (a login, a registration, a verification link): their own data shows in its answer. */
  private readonly vouched = new Set<string>();

  constructor(
    readonly principal: Principal,
    private readonly facts: AuthorizationFacts = noFacts,
    options: { memoize?: boolean } = {},
  ) {
    if (options.memoize) this.memo = new Map();
  }

  get account(): AccountEntity | undefined {
    return this.principal.kind === 'account' ? this.principal.account : undefined;
  }

  get tokenId(): string | undefined {
    return this.principal.kind === 'account' ? this.principal.tokenId : undefined;
  }

  get client(): ClientKindName | undefined {
    return this.principal.kind === 'account' ? this.principal.client : undefined;
  }

  hasRole(role: RoleName): boolean {
    return this.account?.roles.includes(role) ?? false;
  }

  /** Allowed, with what the decision found out; or the refusal the caller gets, thrown. */
  assert<A extends Action>(action: A, ...args: AssertArgs<A>): Promise<Grants[A]> {
    const [resource, manager] = args as [Resources[A], EntityManager | undefined];
    return decide({ principal: this.principal, action, resource, manager, facts: this.facts, memo: this.memo, vouched: this.vouched });
  }

  /**
   * This request proved to be `accountId` (its password, or its emailed link), though its token says
   * otherwise (none, yet): the account in the answer may be read like its own (`account:read`).
   */
  vouchFor(accountId: string): void {
    this.vouched.add(accountId);
  }

  /** A decision read from the database may have changed (the caller left or joined an organization). */
  forget(organizationId: string): void {
    this.memo?.delete(organizationId);
  }

  /** The same decision as a yes or no, for fields that show null to whoever may not see them. */
  async can<A extends Action>(action: A, ...args: AssertArgs<A>): Promise<boolean> {
    try {
      await this.assert(action, ...args);
      return true;
    } catch (err) {
      if (err instanceof AccessError || err instanceof DomainError) return false;
      throw err;
    }
  }
}
