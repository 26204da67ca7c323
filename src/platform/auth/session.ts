import type { AccountEntity, ClientKindName, RoleName } from '../../modules/accounts/entities';
import { AccessError, DomainError } from '../errors';

export type Principal = { kind: 'anonymous' } | { kind: 'account'; account: AccountEntity; tokenId: string; client: ClientKindName } | { kind: 'shop' };

/**
 * Who is calling, built once per request (or per WebSocket connection) from the bearer token.
 * Services state on their first line what they need from it.
 */
export class Session {
  static readonly anonymous = new Session({ kind: 'anonymous' });

  constructor(readonly principal: Principal) {}

  get account(): AccountEntity | undefined {
    return this.principal.kind === 'account' ? this.principal.account : undefined;
  }

  get tokenId(): string | undefined {
    return this.principal.kind === 'account' ? this.principal.tokenId : undefined;
  }

  get isShop(): boolean {
    return this.principal.kind === 'shop';
  }

  /** A logged-in account, verified or not (R1.3: log in, see itself, re-send the email). */
  requireAccount(): AccountEntity {
    if (this.principal.kind !== 'account') throw new AccessError('UNAUTHENTICATED');
    return this.principal.account;
  }

  /** A logged-in account with a verified email address; anything beyond R1.3's short list needs it. */
  requireVerified(): AccountEntity {
    const account = this.requireAccount();
    if (!account.emailVerifiedAt) throw new DomainError('EMAIL_NOT_VERIFIED');
    return account;
  }

  hasRole(role: RoleName): boolean {
    return this.account?.roles.includes(role) ?? false;
  }

  /** A role-gated operation: FORBIDDEN for an account without the role. */
  requireRole(role: RoleName): AccountEntity {
    const account = this.requireAccount();
    if (!account.roles.includes(role)) throw new AccessError('FORBIDDEN');
    return account;
  }
}
