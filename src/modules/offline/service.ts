import type { Session } from '../../platform/auth/session';
import type { Clock } from '../../platform/clock';
import { DomainError } from '../../platform/errors';
import { publicKeyDocument } from '../../offline/format';
import { parseOfflineRequest } from '../../offline/request';
import { signOfflineResponse } from '../../offline/sign';
import type { SeatLeaseEntity } from '../seats/entities';
import type { SeatService } from '../seats/service';
import type { OfflineSigningKeys } from './keys';

/**
 * R6: the server half of offline validation. The request is parsed with the same reference code
 * the app side uses (src/offline), the seat is bound by the seats module, and the response is
 * signed with the server's Ed25519 key.
 */
export class OfflineService {
  constructor(private readonly deps: { seats: SeatService; keys: OfflineSigningKeys; clock: Clock }) {}

  /** The public key document served at /.well-known/offline-signing-key. */
  async publicKeyDocument(): Promise<string> {
    return JSON.stringify(publicKeyDocument((await this.deps.keys.keys()).publicKey), null, 2) + '\n';
  }

  async publicKeyPem(session: Session): Promise<string> {
    await session.assert('public');
    return (await this.deps.keys.keys()).publicKey.export({ format: 'pem', type: 'spki' }).toString();
  }

  /** The logged-in owner accepts a request (payload, URL or the request file's HTML). */
  async validate(session: Session, requestText: string): Promise<{ responseFile: string; lease: SeatLeaseEntity }> {
    const account = await session.assert('account:use');
    let request: ReturnType<typeof parseOfflineRequest>;
    try {
      request = parseOfflineRequest(requestText);
    } catch {
      throw new DomainError('BAD_USER_INPUT', { reason: 'OFFLINE_REQUEST', field: ['request'] });
    }
    if (request.userId !== account.userId) throw new DomainError('OFFLINE_NOT_ALLOWED', { reason: 'OTHER_ACCOUNT', field: ['request'] });
    const { lease, license } = await this.deps.seats.bindOffline(account.id, request.deviceId, request.platform, request.nonce);
    const { privateKey } = await this.deps.keys.keys();
    const responseFile = signOfflineResponse(privateKey, {
      licenseId: license.licenseId,
      userId: account.userId,
      deviceId: request.deviceId,
      platform: request.platform,
      nonce: lease.offlineNonce ?? request.nonce,
      issuedAt: lease.offlineIssuedAt ?? this.deps.clock.now(),
    });
    return { responseFile, lease };
  }
}
