import { EmailAddressResolver } from 'graphql-scalars';
import { DomainError } from './errors';

const CONTROL = /\p{Cc}/u;

/** Text a person typed: no control characters (PostgreSQL refuses NUL, and none belongs in a name). */
export function hasControlCharacters(value: string): boolean {
  return CONTROL.test(value);
}

/**
 * An email address as the `EmailAddress` scalar accepts it (so that what is stored can always be
 * answered), checked for length first so that no pathological input reaches a regular expression.
 */
export function checkEmail(value: string, field: string[]): string {
  const email = value.trim();
  if (email.length < 3 || email.length > 254 || hasControlCharacters(email)) throw new DomainError('BAD_USER_INPUT', { reason: 'EMAIL', field });
  try {
    EmailAddressResolver.parseValue(email);
  } catch {
    throw new DomainError('BAD_USER_INPUT', { reason: 'EMAIL', field });
  }
  return email;
}

/** A name or other short text: trimmed, `min`–`max` characters, no control characters. */
export function checkText(value: string, field: string[], reason: string, min: number, max: number): string {
  const trimmed = value.trim();
  const length = [...trimmed].length;
  if (length < min || length > max || hasControlCharacters(trimmed)) throw new DomainError('BAD_USER_INPUT', { reason, field });
  return trimmed;
}

// R1.11: what a name may not hold. Cc: control characters (C0, DEL, C1). Cf: format characters, the
// invisible and bidirectional ones: soft hyphen U+00AD, Arabic letter mark U+061C, zero-width space,
// non-joiner and joiner U+200B–U+200D, LRM and RLM, the embeddings and overrides U+202A–U+202E (such
// as the right-to-left override U+202E), the word joiner U+2060, the isolates U+2066–U+2069, the BOM
// U+FEFF, the tag characters. As the rule is written, this also refuses the zero-width joiner (Cf)
// inside emoji ZWJ sequences (woman technologist U+1F469 U+200D U+1F4BB, rainbow flag, families) and
// the zero-width non-joiner that Persian spellings use; single emoji, regional-indicator flags, skin
// tones and variation selectors (Mn) are accepted.
//
// Beyond Cc and Cf, the same spoofing is refused in other clothes: the other default-ignorable code
// points, which render as nothing (Hangul fillers U+115F, U+1160, U+3164, U+FFA0, the combining
// grapheme joiner U+034F; variation selectors, which emoji need, stay allowed), the line and paragraph
// separators (Zl, Zp, which break a line in a list or an email), lone surrogates (Cs), the blank
// braille pattern U+2800 (a symbol that renders as a space), and a name of nothing but spaces and marks.
const NAME_FORBIDDEN = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}\u2800]|(?![\uFE00-\uFE0F\u{E0100}-\u{E01EF}])\p{Default_Ignorable_Code_Point}/u;
const NAME_NEEDS = /[^\p{Z}\p{M}]/u;
/**
 * The longest run of combining marks (\p{M}) a name may hold on one base character. After NFC real
 * scripts need at most 2–3 (Vietnamese 1, Devanagari, Thai or vocalized Arabic 2–3), Hebrew with
 * points and cantillation up to 4;
 * "Zalgo" stacks that spill over the neighbouring lines of a member list or an email use dozens.
 */
export const MAX_COMBINING_MARKS = 4;
// Nonspacing marks only (Mn, Me): spacing marks (Mc) take room of their own, and a Burmese syllable
// such as မျှော် carries five marks on one letter, most of them spacing.
const COMBINING_STACK = new RegExp(`[\\p{Mn}\\p{Me}]{${MAX_COMBINING_MARKS + 1}}`, 'u');

/**
 * R1.11: an account's or organization's name, as it is stored: NFC-normalized and trimmed (white space
 * at either end, which includes tabs, line breaks and a BOM there, is dropped), then refused with
 * reason `NAME_CHARACTERS` when it holds a control or format character (Cc, Cf) or more than
 * MAX_COMBINING_MARKS combining marks in a row, and with `NAME_LENGTH` unless it has 1–200 characters
 * (code points). Idempotent: a name it returns comes back unchanged.
 */
export function checkName(value: string, field: string[]): string {
  const name = value.normalize('NFC').trim();
  if (NAME_FORBIDDEN.test(name) || COMBINING_STACK.test(name) || (name.length > 0 && !NAME_NEEDS.test(name)))
    throw new DomainError('BAD_USER_INPUT', { reason: 'NAME_CHARACTERS', field });
  const length = [...name].length;
  if (length < 1 || length > 200) throw new DomainError('BAD_USER_INPUT', { reason: 'NAME_LENGTH', field });
  return name;
}
