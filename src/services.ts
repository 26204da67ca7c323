import DataLoader from 'dataloader';
import type { DataSource } from 'typeorm';
import type { Config } from './config';
import { AccountService } from './modules/accounts/service';
import { LicenseService } from './modules/licenses/service';
import { OrganizationService } from './modules/organizations/service';
import { SeatService } from './modules/seats/service';
import { TrialService } from './modules/trials/service';
import { OfflineSigningKeys } from './modules/offline/keys';
import { OfflineService } from './modules/offline/service';
import { LiveService } from './modules/live/service';
import { WaitlistService } from './modules/seats/waitlist';
import { SeatLedger } from './modules/seats/ledger';
import { SystemService } from './modules/system/service';
import { SupportService } from './modules/support/service';
import { EntitlementService } from './modules/entitlements/service';
import { EntitlementKeys } from './modules/entitlements/keys';
import type { Clock } from './platform/clock';
import type { Loaders } from './platform/context';
import type { Logger } from './platform/logger';
import type { Mailer } from './platform/mail/mailer';
import type { RateLimits } from './platform/rate-limit';
import type { Events } from './platform/events';
import type { Webhooks } from './platform/webhooks/events';

/** The services of every module, built once per server instance. */
export interface Services {
  accounts: AccountService;
  licenses: LicenseService;
  organizations: OrganizationService;
  seats: SeatService;
  trials: TrialService;
  offline: OfflineService;
  live: LiveService;
  waitlist: WaitlistService;
  system: SystemService;
  support: SupportService;
  entitlements: EntitlementService;
}

export interface ServiceDeps {
  config: Config;
  ds: DataSource;
  clock: Clock;
  mailer: Mailer;
  logger: Logger;
  rateLimits: RateLimits;
  appSecret: string;
  events: Events;
  webhooks: Webhooks;
}

export function createServices(deps: ServiceDeps): Services {
  const common = {
    ds: deps.ds,
    clock: deps.clock,
    mailer: deps.mailer,
    logger: deps.logger,
    publicUrl: deps.config.publicUrl,
    rateLimits: deps.rateLimits,
    events: deps.events,
    webhooks: deps.webhooks,
  };
  // The seat ledger first: every module that ends seats does it through it.
  const ledger = new SeatLedger({ ds: deps.ds, clock: deps.clock, logger: deps.logger, events: deps.events });
  const licenses = new LicenseService({ ...common, ledger });
  const organizations = new OrganizationService({ ...common, ledger });
  licenses.acceptInvitesWith((session, code) => organizations.join(session, code));
  const trials = new TrialService({ ds: deps.ds, clock: deps.clock, logger: deps.logger, licenses });
  const seats = new SeatService({
    ds: deps.ds,
    clock: deps.clock,
    logger: deps.logger,
    appSecret: deps.appSecret,
    seatTimeoutSeconds: deps.config.seatTimeoutSeconds,
    heartbeatIntervalSeconds: deps.config.heartbeatIntervalSeconds,
    licenses,
    trials,
    ledger,
    webhooks: deps.webhooks,
  });
  const accounts = new AccountService({ ...common, ledger, appSecret: deps.appSecret });
  const waitlist = new WaitlistService({ ds: deps.ds, clock: deps.clock, logger: deps.logger, mailer: deps.mailer, events: deps.events, seats, ledger });
  seats.useWaitlist(waitlist);
  // Any change to a pool (seats ended, a license added, a member blocked) may be a waiter's turn.
  deps.events.onPoolChanged((pool) => void waitlist.promote(pool));
  return {
    accounts,
    licenses,
    organizations,
    seats,
    trials,
    offline: new OfflineService({ seats, keys: new OfflineSigningKeys(deps.ds, deps.appSecret, deps.clock), clock: deps.clock }),
    live: new LiveService({ bus: deps.events.bus, accounts, organizations, seats, waitlist, logger: deps.logger }),
    waitlist,
    system: new SystemService(deps.clock),
    entitlements: new EntitlementService({
      ds: deps.ds,
      clock: deps.clock,
      appSecret: deps.appSecret,
      publicUrl: deps.config.publicUrl,
      keys: new EntitlementKeys(deps.ds, deps.appSecret, deps.clock),
    }),
    support: new SupportService({
      ds: deps.ds,
      clock: deps.clock,
      logger: deps.logger,
      ledger,
      accounts,
      mailer: deps.mailer,
      publicUrl: deps.config.publicUrl,
      events: deps.events,
      webhooks: deps.webhooks,
    }),
  };
}

export function createLoaders(services: Services): Loaders {
  return {
    accountById: new DataLoader((ids: readonly string[]) => services.accounts.byIds(ids)),
    organizationById: new DataLoader((ids: readonly string[]) => services.organizations.byIds(ids)),
    licensesByOwner: new DataLoader((ids: readonly string[]) => services.licenses.byOwners(ids)),
    licenseById: new DataLoader((ids: readonly string[]) => services.licenses.byIds(ids)),
    // Keyed "organizationId:accountId": a page of members costs one statement (R3.4 `usingSeat`).
    usingSeat: new DataLoader((keys: readonly string[]) =>
      services.seats.usingSeats(keys.map((k) => ({ organizationId: k.slice(0, 36), accountId: k.slice(37) }))),
    ),
    trialDaysByLicense: new DataLoader((ids: readonly string[]) => services.trials.daysRemainingOf(ids)),
  };
}
