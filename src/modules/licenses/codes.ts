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
// Mongolian vowel separator, anything Unicode calls a format character (Cf), and every other
// default-ignorable code point (variation selectors, the combining grapheme joiner, Hangul fillers).
const INVISIBLE = /[\s\u00AD\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\uFEFF\p{Cf}\p{Default_Ignorable_Code_Point}]/gu;
// Every dash-like character: Unicode's dash punctuation, minus signs, and the TR39 look-alikes of `-`
// that are not dash punctuation: modifier letter minus (U+02D7), the katakana-hiragana prolonged sound
// mark that Japanese input methods type for a dash (U+30FC; NFKC also turns half-width U+FF70 into
// it), and the box-drawing horizontal line (U+2500).
const DASHES = /[\p{Pd}\u2212\u2796\uFE63\uFF0D\u2043\u02D7\u30FC\u2500]/gu;
// Quotes, brackets and angle brackets that may surround a pasted code: every opening, closing and
// initial/final quotation punctuation (`( [ { « » ‹ › „ “ ” ‘ ’ 「 」 『 』 【 】 〈 〉`…), plus the ASCII
// quotes, the backtick and `< >` (NFKC has already turned their full-width forms into these). Either
// kind on either side: German quotes open with » or „.
const WRAPPER = /^[\p{Ps}\p{Pe}\p{Pi}\p{Pf}"'`<>]$/u;

/**
 * R2.3 look-alikes of the key alphabet (0–9, A–F), from Unicode TR39 `confusables.txt`: each entry
 * maps characters that look like a key character to it. Deliberately small and limited to that
 * alphabet: nothing else is mapped, so mixed-script input becomes a valid key only through these
 * entries, and the checksum still decides between a valid key and a typo.
 *
 * The table is applied after NFKC (so mathematical, full-width, circled and Roman-numeral forms such
 * as 𝟎–𝟗, Ｏ, ⓞ, Ⅰ, ℓ are already plain letters and digits and need no entry) and before upper-casing,
 * so the case of each source matters: for a Cyrillic or Greek letter whose capital looks like the key
 * character both cases are listed (codes are read case-insensitively), for a letter where only one case
 * looks like it (б, ԁ) only that case. Sources must be NFKC-stable, or they would never be seen
 * (e.g. Greek lunate sigma Ϲ ϲ, TR39 look-alikes of C, are turned into Σ ς by NFKC, so they cannot be
 * listed). Not mapped on purpose: Cyrillic Р and Greek Ρ (they look like Latin P, not R), Latin S Z G B
 * (they resemble 5 2 6 8 only in some fonts), and nothing for 4, 7, 9 (TR39 lists look-alikes of
 * them only in rarely used scripts).
 */
const BODY_LOOKALIKES: ReadonlyArray<readonly [target: string, sources: string]> = [
  // 0: Latin O o; Greek omicron Ο ο; Cyrillic О о; Armenian Օ օ; Latin small capital ᴏ;
  // ideographic number zero 〇.
  ['0', 'Oo\u039F\u03BF\u041E\u043E\u0555\u0585\u1D0F\u3007'],
  // 1: Latin I (and i, which upper-cases to it), small l, dotless ı, vertical line |, dental click ǀ;
  // Cyrillic Byelorussian-Ukrainian І і and palochka Ӏ ӏ; Greek iota Ι ι; the divides sign ∣.
  ['1', 'Iil|\u0131\u01C0\u0406\u0456\u04C0\u04CF\u0399\u03B9\u2223'],
  // 2: Latin tone two Ƨ.
  ['2', '\u01A7'],
  // 3: Cyrillic Ze З з and Abkhasian dze Ӡ; Latin ezh Ʒ and yogh Ȝ ȝ.
  ['3', '\u0417\u0437\u04E0\u01B7\u021C\u021D'],
  // 5: Latin tone five Ƽ.
  ['5', '\u01BC'],
  // 6: Cyrillic small be б (its capital Б does not look like 6).
  ['6', '\u0431'],
  // 8: Latin ou Ȣ ȣ.
  ['8', '\u0222\u0223'],
  // A: Cyrillic А а; Greek alpha Α α; Latin alpha ɑ.
  ['A', '\u0410\u0430\u0391\u03B1\u0251'],
  // B: Cyrillic Ve В в; Greek beta Β β; Latin small capital ʙ.
  ['B', '\u0412\u0432\u0392\u03B2\u0299'],
  // C: Cyrillic Es С с; Latin small capital ᴄ.
  ['C', '\u0421\u0441\u1D04'],
  // D: Cyrillic small Komi de ԁ.
  ['D', '\u0501'],
  // E: Cyrillic Ie Е е; Greek epsilon Ε ε; Latin small capital ᴇ.
  ['E', '\u0415\u0435\u0395\u03B5\u1D07'],
  // F: Greek digamma Ϝ.
  ['F', '\u03DC'],
];

/** Look-alike → key character (R2.3), for the code's body: every character after its first. */
export const KEY_LOOKALIKES: ReadonlyMap<string, string> = new Map(
  BODY_LOOKALIKES.flatMap(([target, sources]) => [...sources].map((s) => [s, target] as const)),
);

/**
 * The first character says what a code is: `R` a license key, `I` an invite code. There it is read
 * as a letter, never as a digit: the look-alikes of 1 other than the digit itself (I i l | ı ǀ І і Ӏ ӏ
 * Ι ι ∣) are the letter `I`, and the digit 1 stays a digit. Nothing maps to `R` (Cyrillic Р and Greek
 * Ρ look like P; `r` is simply upper-cased). A first character that is neither goes through the
 * body's table (a legacy key may start with any letter or digit).
 */
const PREFIX_LOOKALIKES: ReadonlyMap<string, string> = new Map([...KEY_LOOKALIKES].filter(([, target]) => target === '1').map(([source]) => [source, 'I']));

/** Drops the quotes and brackets around a code (R2.3), in linear time whatever the input. */
function unwrap(chars: string[]): string[] {
  let start = 0;
  let end = chars.length;
  while (start < end && WRAPPER.test(chars[start])) start++;
  while (end > start && WRAPPER.test(chars[end - 1])) end--;
  return chars.slice(start, end);
}

/**
 * R2.3: NFKC, no white space or invisible characters, every dash as `-`, no quotes or brackets
 * around it, look-alikes read as the key's own characters (the first character as the kind letter
 * `R` or `I`, the others as 0–9 and A–F: `O` as `0`, `I`, `l` and `|` as `1`, Cyrillic and Greek
 * А В С Е as A B C E, …), upper case.
 */
export function normalizeCode(input: string): string {
  const chars = unwrap([...input.normalize('NFKC').replace(INVISIBLE, '').replace(DASHES, '-')]);
  return chars
    .map((ch, i) => (i === 0 ? (PREFIX_LOOKALIKES.get(ch) ?? KEY_LOOKALIKES.get(ch)) : KEY_LOOKALIKES.get(ch)) ?? ch)
    .join('')
    .toUpperCase();
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
  // An invite URL pasted whole (`…/join/<code>`, also in quotes or angle brackets) counts as its code.
  const fromUrl = /\/join\/([^/?#\s]+)/i.exec(input);
  const normalized = normalizeCode(fromUrl ? safeDecode(fromUrl[1]) : input);
  // The legacy shape is tested on the normalized string: look-alikes only ever become letters or
  // digits, so a five-by-five key stays five-by-five whatever normalization reads into it.
  if (/^[A-Z0-9]{5}(-?[A-Z0-9]{5}){4}$/.test(normalized) && !/^[RI]-/.test(normalized)) return { kind: 'legacy' };
  // normalizeCode has read `O` as `0` already (and `I`, `l`, `|` as `1`) everywhere but in the kind letter.
  const compact = normalized.replace(/-/g, '');
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
