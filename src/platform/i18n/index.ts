import Negotiator from 'negotiator';
import type { ErrorCode } from '../../generated/graphql';
import type { AccessCode, MessageParams } from '../errors';
import { accessMessages, reasonMessages, userErrorMessages, type Template } from './messages';

export type Lang = 'EN' | 'DE' | 'ES';
export const LANGS: readonly Lang[] = ['EN', 'DE', 'ES'];

const TAGS: Record<string, Lang> = { en: 'EN', de: 'DE', es: 'ES' };

/** The best of EN, DE, ES for an `Accept-Language` header, or undefined when none is acceptable. */
export function negotiateLanguage(header: string | undefined): Lang | undefined {
  if (!header) return undefined;
  // `*` states no preference (Node's fetch sends it by default): then the account's language wins.
  const explicit = header
    .split(',')
    .filter((part) => part.split(';')[0].trim() !== '*')
    .join(',');
  if (!explicit.trim()) return undefined;
  const chosen = new Negotiator({ headers: { 'accept-language': explicit } }).language(Object.keys(TAGS));
  return chosen ? TAGS[chosen.toLowerCase()] : undefined;
}

const LOCALES: Record<Lang, string> = { EN: 'en-GB', DE: 'de-DE', ES: 'es-ES' };

export function formatDateTime(lang: Lang, date: Date): string {
  return new Intl.DateTimeFormat(LOCALES[lang], { dateStyle: 'long', timeStyle: 'short', timeZone: 'UTC' }).format(date) + ' UTC';
}

function render(template: Template, lang: Lang, params: MessageParams): string {
  return template.replace(/\{(\w+)\}/g, (_, key: string) => {
    const value = params[key];
    if (value === undefined) return `{${key}}`;
    return value instanceof Date ? formatDateTime(lang, value) : String(value);
  });
}

export function userErrorMessage(lang: Lang, code: ErrorCode, reason?: string, params: MessageParams = {}): string {
  const specific = reason ? reasonMessages[`${code}.${reason}`] : undefined;
  return render((specific ?? userErrorMessages[code])[lang], lang, params);
}

export function accessMessage(lang: Lang, code: AccessCode, params: MessageParams = {}): string {
  return render(accessMessages[code][lang], lang, params);
}
