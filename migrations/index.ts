import { Accounts1764400000000 } from './1764400000000-accounts';
import { LoginThrottle1764400000001 } from './1764400000001-login-throttle';
import { RateLimits1764400000002 } from './1764400000002-rate-limits';
import { Licenses1764500000000 } from './1764500000000-licenses';
import { Organizations1764600000000 } from './1764600000000-organizations';
import { SeatLeases1764700000000 } from './1764700000000-seat-leases';
import { TrialsOffline1764800000000 } from './1764800000000-trials-offline';
import { Waitlist1764900000000 } from './1764900000000-waitlist';
import { SeatLedger1765000000000 } from './1765000000000-seat-ledger';
import { MailOutbox1765100000000 } from './1765100000000-mail-outbox';
import { KnownDevices1765200000000 } from './1765200000000-known-devices';
import { LicenseLifecycle1765300000000 } from './1765300000000-license-lifecycle';
import { EntitlementKeys1765400000000 } from './1765400000000-entitlement-keys';

/** Every migration, oldest first. A new migration is added here as well as in its own file. */
export const migrations = [
  Accounts1764400000000,
  LoginThrottle1764400000001,
  RateLimits1764400000002,
  Licenses1764500000000,
  Organizations1764600000000,
  SeatLeases1764700000000,
  TrialsOffline1764800000000,
  Waitlist1764900000000,
  SeatLedger1765000000000,
  MailOutbox1765100000000,
  KnownDevices1765200000000,
  LicenseLifecycle1765300000000,
  EntitlementKeys1765400000000,
];
