import type { Lang } from '../../platform/i18n';
import { licenseIssuedMail, type RenderedMail } from '../../platform/mail/templates';
import type { LicenseEntity } from './entities';

/** The license key email (R2.4, and support's resend, R8.4), in `lang`. */
export function licenseKeyMail(lang: Lang, license: LicenseEntity, redeemed: boolean, portalUrl: string): RenderedMail {
  return licenseIssuedMail(lang, {
    key: license.key,
    licenseId: license.licenseId,
    type: license.type,
    seats: license.seats,
    expiresAt: license.expiresAt,
    redeemed,
    portalUrl,
  });
}
