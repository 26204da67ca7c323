import fc from 'fast-check';
import { DomainError } from '../../src/platform/errors';
import { checkName, MAX_COMBINING_MARKS } from '../../src/platform/validation';

const FIELD = ['input', 'name'];

/** The reason checkName refuses a value with, or undefined when it accepts it. */
function refusal(value: string): string | undefined {
  try {
    checkName(value, FIELD);
    return undefined;
  } catch (err) {
    if (!(err instanceof DomainError)) throw err;
    expect(err.code).toBe('BAD_USER_INPUT');
    expect(err.options.field).toEqual(FIELD);
    return err.options.reason;
  }
}

const codePoints = (s: string): number => [...s].length;

// Every control and format character Unicode knows (65 Cc, about 170 Cf).
const FORBIDDEN: string[] = [];
for (let cp = 0; cp <= 0x10ffff; cp++) {
  if (cp >= 0xd800 && cp <= 0xdfff) continue;
  const ch = String.fromCodePoint(cp);
  if (/[\p{Cc}\p{Cf}]/u.test(ch)) FORBIDDEN.push(ch);
}
// The ones String.prototype.trim drops when they stand at either end: tab, line feed, vertical tab,
// form feed, carriage return, BOM. Anywhere inside a name they are refused like the others.
const TRIMMED = new Set(FORBIDDEN.filter((ch) => ch.trim() === ''));

// Names in several scripts, some with combining marks (and, below, also in their decomposed NFD form).
const WORDS = [
  'Anne-Marie',
  "O'Brien",
  'José',
  'Zoë',
  'Łukasz',
  'Øyvind',
  'Straße',
  'Nguyễn',
  'Thị',
  'Dvořák',
  'Дмитрий',
  'Ёлкина',
  'Σοφία',
  'Ωμέγα',
  'محمّد',
  'فاطمة',
  'יוסף',
  'שָׁלוֹם',
  '王小明',
  '山田',
  'たろう',
  'カタカナ',
  '김민수',
  'हिन्दी',
  'ক্ষমা',
  'தமிழ்',
  'ภาษาไทย',
  'བསྟན་འཛིན་རྒྱ་མཚོ',
  'ქართული',
  'Հայերեն',
  'አማርኛ',
  'GmbH & Co. KG',
  '3M',
  '😀',
  '🇩🇪',
  '👍🏽',
  '\u2764\uFE0F', // heavy black heart with emoji presentation (VS16 is Mn, not Cf)
];

// Combining diacritics that NFC neither composes with `q` nor with each other, nor decomposes
// (U+0340, U+0341, U+0343 and U+0344 are singletons that NFC replaces).
const MARKS: string[] = [];
for (let cp = 0x300; cp <= 0x36f; cp++) if (![0x340, 0x341, 0x343, 0x344, 0x34f].includes(cp)) MARKS.push(String.fromCodePoint(cp));

const letter = fc
  .integer({ min: 0x41, max: 0x2ffff })
  .map((cp) => String.fromCodePoint(cp))
  // Letters that render as nothing (the Hangul fillers are letters, Lo, and default-ignorable) are
  // refused on purpose; every other letter is a name's.
  .filter((ch) => /\p{L}/u.test(ch) && !/\p{Default_Ignorable_Code_Point}/u.test(ch));
const word = fc.oneof(
  { arbitrary: fc.constantFrom(...WORDS), weight: 3 },
  { arbitrary: fc.constantFrom(...WORDS).map((w) => w.normalize('NFD')), weight: 2 },
  { arbitrary: fc.array(letter, { minLength: 1, maxLength: 12 }).map((l) => l.join('')), weight: 2 },
  // A Latin letter with one or two accents, as a keyboard without precomposed letters types it.
  {
    arbitrary: fc.tuple(fc.constantFrom(...'aeiouqxyz'), fc.array(fc.constantFrom(...MARKS), { minLength: 1, maxLength: 2 })).map(([l, m]) => l + m.join('')),
    weight: 1,
  },
);
/** A valid name's content: words with single or double spaces between them. */
const core = fc
  .array(fc.tuple(word, fc.constantFrom(' ', '  ', '\u00A0')), { minLength: 1, maxLength: 8 })
  .map((parts) => parts.map(([w, sep], i) => (i === 0 ? w : sep + w)).join(''))
  .filter((s) => codePoints(s.normalize('NFC')) <= 200);
/** White space a form or a mail program leaves around a name. */
const padding = fc.constantFrom('', ' ', '  ', '\t', '\n', '\r\n', '\u3000', '\uFEFF', ' \u00A0 ');

describe('R1.11 names', () => {
  it('accepts names of any script, with spaces inside, and returns them NFC-normalized and trimmed (property)', () => {
    fc.assert(
      fc.property(padding, core, padding, (before, name, after) => {
        const result = checkName(before + name + after, FIELD);
        expect(result).toBe(name.normalize('NFC'));
        expect(result).toBe(result.normalize('NFC'));
        expect(result).toBe(result.trim());
      }),
      { numRuns: 3000 },
    );
  });

  it('refuses any name that holds a control or format character (property)', () => {
    fc.assert(
      fc.property(padding, core, fc.constantFrom(...FORBIDDEN), core, padding, (before, left, bad, right, after) => {
        expect(refusal(before + left + bad + right + after)).toBe('NAME_CHARACTERS');
        // At either end too, except the white space that trimming drops (tab, line breaks, BOM).
        if (!TRIMMED.has(bad)) {
          expect(refusal(before + bad + left + after)).toBe('NAME_CHARACTERS');
          expect(refusal(before + left + bad + after)).toBe('NAME_CHARACTERS');
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('is idempotent: a name it returns comes back unchanged (property)', () => {
    const anything = fc.oneof(
      fc.tuple(padding, core, padding).map(([a, b, c]) => a + b + c),
      fc.string({ unit: 'binary', maxLength: 60 }),
      fc.string({ unit: 'grapheme', maxLength: 60 }),
      fc.string({ unit: fc.constantFrom(' ', 'a', 'e', '\u0301', '\u0308', '\u0323', '\u1100', '\u1161', '\u11A8', '\u3000'), maxLength: 30 }),
    );
    fc.assert(
      fc.property(anything, (value) => {
        let once: string;
        try {
          once = checkName(value, FIELD);
        } catch {
          return;
        }
        expect(checkName(once, FIELD)).toBe(once);
      }),
      { numRuns: 5000 },
    );
  });

  it('refuses bidirectional overrides, isolates and marks, and invisible characters', () => {
    expect(refusal('Alice\u202Eecila')).toBe('NAME_CHARACTERS'); // right-to-left override
    expect(refusal('\u202Egnp.exe')).toBe('NAME_CHARACTERS');
    expect(refusal('Bob\u202D')).toBe('NAME_CHARACTERS'); // left-to-right override
    expect(refusal('Bob \u2067admin\u2069')).toBe('NAME_CHARACTERS'); // right-to-left isolate
    expect(refusal('Bob\u200F')).toBe('NAME_CHARACTERS'); // right-to-left mark
    expect(refusal('Ad\u200Bmin')).toBe('NAME_CHARACTERS'); // zero-width space
    expect(refusal('Ad\u2060min')).toBe('NAME_CHARACTERS'); // word joiner
    expect(refusal('Ad\u00ADmin')).toBe('NAME_CHARACTERS'); // soft hyphen
    expect(refusal('Ad\uFEFFmin')).toBe('NAME_CHARACTERS'); // BOM inside
    expect(refusal('Ad\u0000min')).toBe('NAME_CHARACTERS'); // NUL
    expect(refusal('Ad\nmin')).toBe('NAME_CHARACTERS');
    expect(refusal('Ad\u0085min')).toBe('NAME_CHARACTERS'); // next line (C1)
  });

  it('refuses emoji ZWJ sequences, because the zero-width joiner is a format character (as R1.11 is written)', () => {
    expect(refusal('Ana \u{1F469}\u200D\u{1F4BB}')).toBe('NAME_CHARACTERS');
    expect(refusal('\u{1F600} Ana \u{1F44D}\u{1F3FD}')).toBeUndefined();
  });

  it(`refuses more than ${MAX_COMBINING_MARKS} combining marks on one character, and 200 of them`, () => {
    expect(refusal(`a${'\u0301'.repeat(200)}`)).toBe('NAME_CHARACTERS');
    expect(refusal('\u0301'.repeat(200))).toBe('NAME_CHARACTERS');
    expect(refusal(`Z${'\u0336\u0337\u0338\u0339\u033A\u033B'.repeat(10)}algo`)).toBe('NAME_CHARACTERS');
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...MARKS), { minLength: 1, maxLength: 30 }), (marks) => {
        const name = `Ma q${marks.join('')}x`;
        expect(refusal(name)).toBe(marks.length > MAX_COMBINING_MARKS ? 'NAME_CHARACTERS' : undefined);
      }),
      { numRuns: 2000 },
    );
  });

  it('counts 1–200 characters (code points) after NFC', () => {
    expect(refusal('')).toBe('NAME_LENGTH');
    expect(refusal(' \t\r\n\u3000 ')).toBe('NAME_LENGTH');
    expect(refusal('a'.repeat(200))).toBeUndefined();
    expect(refusal('a'.repeat(201))).toBe('NAME_LENGTH');
    expect(refusal('\u{1F600}'.repeat(200))).toBeUndefined(); // 400 UTF-16 units, 200 characters
    expect(refusal('\u{1F600}'.repeat(201))).toBe('NAME_LENGTH');
    expect(checkName('e\u0301'.repeat(200), FIELD)).toBe('\u00E9'.repeat(200)); // 400 code points before NFC, 200 after
    expect(refusal(` ${'x'.repeat(200)} `)).toBeUndefined();
  });

  it('normalizes to NFC and trims', () => {
    expect(checkName('  Nguye\u0302\u0303n  ', FIELD)).toBe('Nguy\u1EC5n');
    expect(checkName('\uFEFFJose\u0301\n', FIELD)).toBe('Jos\u00E9');
    expect(checkName('Dmitri Ivanov', FIELD)).toBe('Dmitri Ivanov');
  });
});

describe('R1.11 names that render as nothing, or break lines', () => {
  it.each([
    ['the Hangul filler U+3164', '\u3164'],
    ['the half-width Hangul filler U+FFA0', '\uFFA0'],
    ['the Hangul choseong and jungseong fillers', '\u115F\u1160'],
    ['the blank braille pattern U+2800', '\u2800'],
    ['a line separator U+2028', 'Ada\u2028Admin'],
    ['a paragraph separator U+2029', 'Ada\u2029Admin'],
    ['combining grapheme joiners U+034F', 'A\u034F\u034FB'],
    ['a lone surrogate', 'a\uD800b'],
    ['nothing but marks', '\u0301\u0301'],
  ])('refuses %s', (_what, name) => {
    expect(() => checkName(name, FIELD)).toThrow(expect.objectContaining({ options: expect.objectContaining({ reason: 'NAME_CHARACTERS' }) }));
  });

  it.each([
    ['a Burmese syllable with five (spacing) marks', 'မျှော်'],
    ['an emoji', '😀'],
    ['an emoji with its variation selector', '❤️'],
    ['Vietnamese', 'Nguyễn Văn Ảnh'],
  ])('accepts %s', (_what, name) => {
    expect(checkName(name, FIELD)).toBe(name.normalize('NFC'));
  });
});
