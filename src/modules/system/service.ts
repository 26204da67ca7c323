import type { Session } from '../../platform/auth/session';
import type { Clock } from '../../platform/clock';
import { AccessError, DomainError } from '../../platform/errors';

export class SystemService {
  constructor(private readonly clock: Clock) {}

  /** Only a server started with TEST_CLOCK=1 has a clock that moves (refused in production at start). */
  async advanceTestClock(session: Session, seconds: number): Promise<Date> {
    await session.assert('public');
    if (!this.clock.isAdjustable) throw new AccessError('FORBIDDEN');
    if (seconds < 0) throw new DomainError('BAD_USER_INPUT', { reason: 'NEGATIVE', field: ['seconds'] });
    return this.clock.advance(seconds);
  }
}
