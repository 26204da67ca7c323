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
      return compose('Bitte bestätigen Sie Ihre E-Mail-Adresse', `Hallo ${name},`, [
        'bitte bestätigen Sie Ihre E-Mail-Adresse, damit Sie Lizenzen aktivieren und nutzen können.',
        'Der Link ist 7 Tage gültig und kann einmal verwendet werden.',
      ], { label: 'E-Mail-Adresse bestätigen', url }, closing.DE);
    case 'ES':
      return compose('Confirme su dirección de correo', `Hola, ${name}:`, [
        'Confirme su dirección de correo para poder activar y usar licencias.',
        'El enlace es válido durante 7 días y solo se puede usar una vez.',
      ], { label: 'Confirmar la dirección de correo', url }, closing.ES);
    default:
      return compose('Please confirm your email address', `Hello ${name},`, [
        'Please confirm your email address so that you can activate and use licenses.',
        'The link is valid for 7 days and can be used once.',
      ], { label: 'Confirm email address', url }, closing.EN);
  }
}

export function passwordResetMail(lang: Lang, name: string, url: string): RenderedMail {
  switch (lang) {
    case 'DE':
      return compose('Passwort zurücksetzen', `Hallo ${name},`, [
        'Sie haben angefordert, Ihr Passwort zurückzusetzen. Der Link ist 60 Minuten gültig und kann einmal verwendet werden.',
        'Wenn Sie das nicht waren, können Sie diese E-Mail ignorieren; Ihr Passwort bleibt unverändert.',
      ], { label: 'Neues Passwort festlegen', url }, closing.DE);
    case 'ES':
      return compose('Restablecer la contraseña', `Hola, ${name}:`, [
        'Ha solicitado restablecer su contraseña. El enlace es válido durante 60 minutos y solo se puede usar una vez.',
        'Si no fue usted, ignore este correo; su contraseña no cambia.',
      ], { label: 'Establecer una nueva contraseña', url }, closing.ES);
    default:
      return compose('Reset your password', `Hello ${name},`, [
        'You asked to reset your password. The link is valid for 60 minutes and can be used once.',
        'If this was not you, ignore this email; your password stays as it is.',
      ], { label: 'Choose a new password', url }, closing.EN);
  }
}
