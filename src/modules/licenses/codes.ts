import { randomBytes } from 'node:crypto';

/**
 * License keys `R-XXX-XXX-XXX-XXX-XXX-XXX` (R2.1–R2.3) and the normalization that every typed or
 * pasted code (license key or invite code) goes through. Pure functions, no I/O.
 *
 * A key is 15 random hex digits (60 bits from crypto.randomBytes, so no key says anything about
 * another) followed by a 3-digit checksum: the CRC-12 of those 60 bits. A CRC-12 detects every
 * error burst of up to 12 bits, so any single mistyped hex digit (4 bits), anywhere in the key,
 * and any swap of two neighbouring digits (8 bits) is told apart from an unknown key.
 */

const CRC12_POLY = 0x80f; // x^12 + x^11 + x^3 + x^2 + x + 1

export function crc12(hexDigits: string): number {
  let crc = 0;
  for (const ch of hexDigits) {
    const nibble = parseInt(ch, 16);
    for (let bit = 3; bit >= 0; bit--) {
      const inBit = (nibble >> bit) & 1;
      const top = (crc >> 11) & 1;
      crc = (crc << 1) & 0xfff;
      if (top ^ inBit) crc ^= CRC12_POLY;
    }
  }
  return crc;
}

export function checksumOf(payload15: string): string {
  return crc12(payload15).toString(16).toUpperCase().padStart(3, '0');
}

function groups(hex: string, size = 3): string {
  return hex.match(new RegExp(`.{1,${size}}`, 'g'))!.join('-');
}

/** A fresh license key with its checksum group. */
export function generateLicenseKey(): string {
  const payload = randomBytes(8).toString('hex').toUpperCase().slice(0, 15);
  return `R-${groups(payload + checksumOf(payload))}`;
}

/** A fresh invite code `I-XXX-XXX-XXX-XXX` (48 random bits). */
export function generateInviteCode(): string {
  return `I-${groups(randomBytes(6).toString('hex').toUpperCase())}`;
}

// White space and invisible characters: zero-width space/joiners, word joiner, soft hyphen, BOM,
// Mongolian vowel separator, and anything Unicode calls a format character.
const INVISIBLE = /[\s\u00AD\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\uFEFF\p{Cf}]/gu;
// Every dash-like character: Unicode's dash punctuation plus minus signs.
const DASHES = /[\p{Pd}\u2212\u2796\uFE63\uFF0D\u2043]/gu;

/** R2.3: NFKC, no white space or invisible characters, every dash as `-`, upper case. */
export function normalizeCode(input: string): string {
  return input.normalize('NFKC').replace(INVISIBLE, '').replace(DASHES, '-').toUpperCase();
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

export type ParsedCode = { kind: 'license'; key: string } | { kind: 'invite'; code: string } | { kind: 'legacy' } | { kind: 'typo' } | { kind: 'unknown' };

/**
 * What a typed code is. `typo`: shaped like a license key but its checksum or length is wrong.
 * `legacy`: the older five-by-five format (R2.3). Grouping dashes are optional when typing.
 */
export function parseCode(input: string): ParsedCode {
  // An invite URL pasted whole (`…/join/<code>`) counts as its code.
  const fromUrl = /\/join\/([^/?#\s]+)/i.exec(input);
  const normalized = normalizeCode(fromUrl ? safeDecode(fromUrl[1]) : input);
  if (/^[A-Z0-9]{5}(-?[A-Z0-9]{5}){4}$/.test(normalized) && !/^[RI]-/.test(normalized)) return { kind: 'legacy' };
  const compact = normalized.replace(/-/g, '').replace(/O/g, '0');
  if (compact.startsWith('R')) {
    const hex = compact.slice(1);
    if (!/^[0-9A-F]+$/.test(hex) || hex.length !== 18) return { kind: 'typo' };
    const payload = hex.slice(0, 15);
    if (checksumOf(payload) !== hex.slice(15)) return { kind: 'typo' };
    return { kind: 'license', key: `R-${groups(hex)}` };
  }
  if (compact.startsWith('I')) {
    const hex = compact.slice(1);
    if (/^[0-9A-F]{12}$/.test(hex)) return { kind: 'invite', code: `I-${groups(hex)}` };
    return { kind: 'unknown' };
  }
  return { kind: 'unknown' };
}
