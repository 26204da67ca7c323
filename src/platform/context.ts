import type DataLoader from 'dataloader';
import type { AccountEntity } from '../modules/accounts/entities';
import type { LicenseEntity } from '../modules/licenses/entities';
import type { OrganizationEntity } from '../modules/organizations/entities';
import type { Services } from '../services';
import type { Session } from './auth/session';
import type { Lang } from './i18n';
import type { Logger } from './logger';

/** Per-request DataLoaders: created fresh for every request, never shared (architecture.md). */
export interface Loaders {
  accountById: DataLoader<string, AccountEntity | null>;
  organizationById: DataLoader<string, OrganizationEntity | null>;
  /** Every license an account holds; callers apply the visibility rules of their service. */
  licensesByOwner: DataLoader<string, LicenseEntity[]>;
  licenseById: DataLoader<string, LicenseEntity | null>;
  /** Whether a member holds a live seat of its organization, keyed `organizationId:accountId`. */
  usingSeat: DataLoader<string, boolean>;
  /** A trial's remaining active days (R5.5), by license. */
  trialDaysByLicense: DataLoader<string, number | null>;
}

/** What every resolver receives; built once per HTTP request or WebSocket operation. */
export interface Context {
  session: Session;
  /** The bearer token as sent; only subscriptions keep it, to re-check it while they last. Never logged. */
  bearer?: string;
  /** Language of messages: `Accept-Language` when it names EN, DE or ES, else the account's (R1.8). */
  lang: Lang;
  /** Keyed hash of the client address (never the raw address: R1.6). */
  ipHash: string;
  loaders: Loaders;
  services: Services;
  logger: Logger;
  /** The HTTP exchange, for requests over HTTP (not WebSocket operations). */
  http?: HttpExchange;
}

/** What a resolver may read from and add to the HTTP exchange (cookies only, named here). */
export interface HttpExchange {
  /** R1.6: the device cookie the browser sent. */
  deviceCookie?: string;
  /** Sets the device cookie on the answer. */
  setDeviceCookie(value: string): void;
}
