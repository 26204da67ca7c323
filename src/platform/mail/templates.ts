import type { Lang } from '../i18n';

export interface RenderedMail {
  subject: string;
  text: string;
  html: string;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** A plain-text part and an HTML part built from the same paragraphs, with one call to action. */
function compose(subject: string, greeting: string, paragraphs: string[], action: { label: string; url: string } | undefined, closing: string): RenderedMail {
  const text = [greeting, '', ...paragraphs.flatMap((p) => [p, '']), ...(action ? [`${action.label}: ${action.url}`, ''] : []), closing, ''].join('\n');
  const html = [
    '<!doctype html><html><body style="font-family: sans-serif; line-height: 1.5">',
    `<p>${escapeHtml(greeting)}</p>`,
    ...paragraphs.map((p) => `<p>${escapeHtml(p)}</p>`),
    action ? `<p><a href="${escapeHtml(action.url)}">${escapeHtml(action.label)}</a></p>` : '',
    `<p>${escapeHtml(closing)}</p>`,
    '</body></html>',
  ].join('\n');
  return { subject, text, html };
}

const closing: Record<Lang, string> = {
  EN: 'Tessera licensing',
  DE: 'Tessera Lizenzverwaltung',
  ES: 'Gestión de licencias Tessera',
};

export function verificationMail(lang: Lang, name: string, url: string): RenderedMail {
  switch (lang) {
    case 'DE':
      return compose(
        'Bitte bestätigen Sie Ihre E-Mail-Adresse',
        `Hallo ${name},`,
        [
          'bitte bestätigen Sie Ihre E-Mail-Adresse, damit Sie Lizenzen aktivieren und nutzen können.',
          'Der Link ist 7 Tage gültig und kann einmal verwendet werden.',
        ],
        { label: 'E-Mail-Adresse bestätigen', url },
        closing.DE,
      );
    case 'ES':
      return compose(
        'Confirme su dirección de correo',
        `Hola, ${name}:`,
        ['Confirme su dirección de correo para poder activar y usar licencias.', 'El enlace es válido durante 7 días y solo se puede usar una vez.'],
        { label: 'Confirmar la dirección de correo', url },
        closing.ES,
      );
    default:
      return compose(
        'Please confirm your email address',
        `Hello ${name},`,
        ['Please confirm your email address so that you can activate and use licenses.', 'The link is valid for 7 days and can be used once.'],
        { label: 'Confirm email address', url },
        closing.EN,
      );
  }
}

export function passwordResetMail(lang: Lang, name: string, url: string): RenderedMail {
  switch (lang) {
    case 'DE':
      return compose(
        'Passwort zurücksetzen',
        `Hallo ${name},`,
        [
          'Sie haben angefordert, Ihr Passwort zurückzusetzen. Der Link ist 60 Minuten gültig und kann einmal verwendet werden.',
          'Wenn Sie das nicht waren, können Sie diese E-Mail ignorieren; Ihr Passwort bleibt unverändert.',
        ],
        { label: 'Neues Passwort festlegen', url },
        closing.DE,
      );
    case 'ES':
      return compose(
        'Restablecer la contraseña',
        `Hola, ${name}:`,
        [
          'Ha solicitado restablecer su contraseña. El enlace es válido durante 60 minutos y solo se puede usar una vez.',
          'Si no fue usted, ignore este correo; su contraseña no cambia.',
        ],
        { label: 'Establecer una nueva contraseña', url },
        closing.ES,
      );
    default:
      return compose(
        'Reset your password',
        `Hello ${name},`,
        [
          'You asked to reset your password. The link is valid for 60 minutes and can be used once.',
          'If this was not you, ignore this email; your password stays as it is.',
        ],
        { label: 'Choose a new password', url },
        closing.EN,
      );
  }
}

export interface LicenseMailFacts {
  key: string;
  licenseId: string;
  type: string;
  seats: number;
  expiresAt: Date | null;
  redeemed: boolean;
  portalUrl: string;
}

function formatDay(lang: Lang, date: Date): string {
  return new Intl.DateTimeFormat({ EN: 'en-GB', DE: 'de-DE', ES: 'es-ES' }[lang], { dateStyle: 'long', timeZone: 'UTC' }).format(date);
}

/** R2.4: the key, emailed to the purchaser. */
export function licenseIssuedMail(lang: Lang, f: LicenseMailFacts): RenderedMail {
  const until = f.expiresAt ? formatDay(lang, f.expiresAt) : undefined;
  switch (lang) {
    case 'DE':
      return compose(
        `Ihr Lizenzschlüssel ${f.licenseId}`,
        'Hallo,',
        [
          `vielen Dank für Ihren Kauf. Ihr Lizenzschlüssel lautet: ${f.key}`,
          `Lizenz ${f.licenseId}: ${f.type}, ${f.seats} ${f.seats === 1 ? 'Platz' : 'Plätze'}, ${until ? `gültig bis ${until}` : 'unbefristet'}.`,
          f.redeemed
            ? 'Die Lizenz ist bereits in Ihrem Konto aktiviert.'
            : 'Melden Sie sich im Lizenzportal an und geben Sie den Schlüssel ein, um die Lizenz in Ihrem Konto zu aktivieren.',
        ],
        { label: 'Zum Lizenzportal', url: f.portalUrl },
        closing.DE,
      );
    case 'ES':
      return compose(
        `Su clave de licencia ${f.licenseId}`,
        'Hola:',
        [
          `Gracias por su compra. Su clave de licencia es: ${f.key}`,
          `Licencia ${f.licenseId}: ${f.type}, ${f.seats} ${f.seats === 1 ? 'puesto' : 'puestos'}, ${until ? `válida hasta el ${until}` : 'permanente'}.`,
          f.redeemed
            ? 'La licencia ya está activada en su cuenta.'
            : 'Inicie sesión en el portal de licencias e introduzca la clave para activar la licencia en su cuenta.',
        ],
        { label: 'Ir al portal de licencias', url: f.portalUrl },
        closing.ES,
      );
    default:
      return compose(
        `Your license key ${f.licenseId}`,
        'Hello,',
        [
          `Thank you for your purchase. Your license key is: ${f.key}`,
          `License ${f.licenseId}: ${f.type}, ${f.seats} ${f.seats === 1 ? 'seat' : 'seats'}, ${until ? `valid until ${until}` : 'permanent'}.`,
          f.redeemed
            ? 'The license is already activated in your account.'
            : 'Log in to the license portal and enter the key to activate the license in your account.',
        ],
        { label: 'Go to the license portal', url: f.portalUrl },
        closing.EN,
      );
  }
}

/** R2.10: the owner is told 30, 7 and 1 days before a license ends. */
export function licenseExpiryMail(lang: Lang, name: string, f: { licenseId: string; expiresAt: Date; daysBefore: number; portalUrl: string }): RenderedMail {
  const until = formatDay(lang, f.expiresAt);
  switch (lang) {
    case 'DE':
      return compose(
        `Ihre Lizenz ${f.licenseId} endet ${f.daysBefore === 1 ? 'morgen' : `in ${f.daysBefore} Tagen`}`,
        `Hallo ${name},`,
        [
          `Ihre Lizenz ${f.licenseId} endet am ${until}. Danach können Sie Ihre Arbeit weiterhin öffnen und ansehen, aber nicht mehr speichern oder exportieren.`,
          'Verlängern Sie rechtzeitig, um ohne Unterbrechung weiterzuarbeiten.',
        ],
        { label: 'Zum Lizenzportal', url: f.portalUrl },
        closing.DE,
      );
    case 'ES':
      return compose(
        `Su licencia ${f.licenseId} termina ${f.daysBefore === 1 ? 'mañana' : `en ${f.daysBefore} días`}`,
        `Hola, ${name}:`,
        [
          `Su licencia ${f.licenseId} termina el ${until}. Después podrá seguir abriendo y viendo su trabajo, pero no guardarlo ni exportarlo.`,
          'Renuévela a tiempo para seguir trabajando sin interrupciones.',
        ],
        { label: 'Ir al portal de licencias', url: f.portalUrl },
        closing.ES,
      );
    default:
      return compose(
        `Your license ${f.licenseId} ends ${f.daysBefore === 1 ? 'tomorrow' : `in ${f.daysBefore} days`}`,
        `Hello ${name},`,
        [
          `Your license ${f.licenseId} ends on ${until}. After that you can still open and view your work, but not save or export it.`,
          'Renew in time to keep working without interruption.',
        ],
        { label: 'Go to the license portal', url: f.portalUrl },
        closing.EN,
      );
  }
}

/** R4.13: a seat is held for the first waiter for 10 minutes. */
export function waitlistHoldMail(lang: Lang, name: string, f: { organization: string; until: Date }): RenderedMail {
  const time = new Intl.DateTimeFormat({ EN: 'en-GB', DE: 'de-DE', ES: 'es-ES' }[lang], { timeStyle: 'short', timeZone: 'UTC' }).format(f.until) + ' UTC';
  switch (lang) {
    case 'DE':
      return compose(
        `Ein Platz ist für Sie frei: ${f.organization}`,
        `Hallo ${name},`,
        [
          `ein Platz von ${f.organization} ist frei geworden und wird bis ${time} für Sie freigehalten.`,
          'Starten Sie die App jetzt, um ihn zu nutzen; danach geht er an die nächste Person auf der Warteliste.',
        ],
        undefined,
        closing.DE,
      );
    case 'ES':
      return compose(
        `Hay un puesto libre para usted: ${f.organization}`,
        `Hola, ${name}:`,
        [
          `Se ha liberado un puesto de ${f.organization} y se le reserva hasta las ${time}.`,
          'Inicie la aplicación ahora para usarlo; después pasará a la siguiente persona de la lista de espera.',
        ],
        undefined,
        closing.ES,
      );
    default:
      return compose(
        `A seat is free for you: ${f.organization}`,
        `Hello ${name},`,
        [
          `A seat of ${f.organization} has become free and is held for you until ${time}.`,
          'Start the app now to use it; after that it passes to the next person on the waiting list.',
        ],
        undefined,
        closing.EN,
      );
  }
}

/** R2.11: the shop renewed a license (a new end, perhaps other seats); to the owner. */
export function licenseRenewedMail(lang: Lang, name: string, f: { licenseId: string; expiresAt: Date | null; seats: number; portalUrl: string }): RenderedMail {
  const until = f.expiresAt ? formatDay(lang, f.expiresAt) : undefined;
  switch (lang) {
    case 'DE':
      return compose(
        `Ihre Lizenz ${f.licenseId} wurde verlängert`,
        `Hallo ${name},`,
        [`Ihre Lizenz ${f.licenseId} gilt jetzt ${until ? `bis ${until}` : 'unbefristet'}, mit ${f.seats} ${f.seats === 1 ? 'Platz' : 'Plätzen'}.`],
        { label: 'Zum Lizenzportal', url: f.portalUrl },
        closing.DE,
      );
    case 'ES':
      return compose(
        `Su licencia ${f.licenseId} se ha renovado`,
        `Hola, ${name}:`,
        [
          `Su licencia ${f.licenseId} es ahora válida ${until ? `hasta el ${until}` : 'sin fecha de fin'}, con ${f.seats} ${f.seats === 1 ? 'puesto' : 'puestos'}.`,
        ],
        { label: 'Ir al portal de licencias', url: f.portalUrl },
        closing.ES,
      );
    default:
      return compose(
        `Your license ${f.licenseId} was renewed`,
        `Hello ${name},`,
        [`Your license ${f.licenseId} is now valid ${until ? `until ${until}` : 'with no end date'}, with ${f.seats} ${f.seats === 1 ? 'seat' : 'seats'}.`],
        { label: 'Go to the license portal', url: f.portalUrl },
        closing.EN,
      );
  }
}

/** R2.11: the shop revoked a license (refund, chargeback, cancellation); to the owner. */
export function licenseRevokedMail(lang: Lang, name: string, f: { licenseId: string; portalUrl: string }): RenderedMail {
  switch (lang) {
    case 'DE':
      return compose(
        `Ihre Lizenz ${f.licenseId} wurde widerrufen`,
        `Hallo ${name},`,
        [
          `Ihre Lizenz ${f.licenseId} wurde vom Shop widerrufen (Erstattung, Rückbuchung oder Kündigung) und gilt ab sofort nicht mehr. Ihre Arbeit können Sie weiterhin öffnen und ansehen.`,
          'Wenn Sie das nicht erwartet haben, antworten Sie auf die Bestätigung Ihres Kaufs.',
        ],
        { label: 'Zum Lizenzportal', url: f.portalUrl },
        closing.DE,
      );
    case 'ES':
      return compose(
        `Su licencia ${f.licenseId} ha sido revocada`,
        `Hola, ${name}:`,
        [
          `La tienda ha revocado su licencia ${f.licenseId} (reembolso, devolución de cargo o cancelación) y deja de ser válida desde ahora. Puede seguir abriendo y viendo su trabajo.`,
          'Si no lo esperaba, responda a la confirmación de su compra.',
        ],
        { label: 'Ir al portal de licencias', url: f.portalUrl },
        closing.ES,
      );
    default:
      return compose(
        `Your license ${f.licenseId} was revoked`,
        `Hello ${name},`,
        [
          `The shop revoked your license ${f.licenseId} (a refund, chargeback or cancellation); it is no longer valid as of now. You can still open and view your work.`,
          'If you did not expect this, reply to the confirmation of your purchase.',
        ],
        { label: 'Go to the license portal', url: f.portalUrl },
        closing.EN,
      );
  }
}
