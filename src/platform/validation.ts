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
