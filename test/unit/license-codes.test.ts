import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { checksumOf, generateInviteCode, generateLicenseKey, KEY_LOOKALIKES, normalizeCode, parseCode } from '../../src/modules/licenses/codes';

const HEX = '0123456789ABCDEF'.split('');

describe('R2.2 license keys and their checksum', () => {
  it('generates keys of the form R-XXX-XXX-XXX-XXX-XXX-XXX whose last group checks the first fifteen digits', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const key = generateLicenseKey();
      expect(key).toMatch(/^R-([0-9A-F]{3}-){5}[0-9A-F]{3}$/);
      expect(parseCode(key)).toEqual({ kind: 'license', key });
      seen.add(key);
    }
    expect(seen.size).toBe(1000);
  });

  it('catches any single mistyped hex digit of a valid key (property)', () => {
    const keyArb = fc.array(fc.constantFrom(...HEX), { minLength: 15, maxLength: 15 }).map((d) => {
      const payload = d.join('');
      return (payload + checksumOf(payload)).match(/.{3}/g)!.join('-');
    });
    fc.assert(
      fc.property(keyArb, fc.integer({ min: 0, max: 17 }), fc.integer({ min: 1, max: 15 }), (body, position, delta) => {
        const key = `R-${body}`;
        expect(parseCode(key).kind).toBe('license');
        const digits = body.replace(/-/g, '').split('');
        digits[position] = HEX[(HEX.indexOf(digits[position]) + delta) % 16];
        const typo = `R-${digits.join('').match(/.{3}/g)!.join('-')}`;
        return parseCode(typo).kind === 'typo';
      }),
      { numRuns: 5000 },
    );
  });

  it('catches any swap of two different neighbouring digits (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...HEX), { minLength: 15, maxLength: 15 }), fc.integer({ min: 0, max: 16 }), (d, i) => {
        const hex = (d.join('') + checksumOf(d.join(''))).split('');
        fc.pre(hex[i] !== hex[i + 1]);
        [hex[i], hex[i + 1]] = [hex[i + 1], hex[i]];
        return parseCode(`R-${hex.join('')}`).kind === 'typo';
      }),
      { numRuns: 3000 },
    );
  });
});

describe('R2.3 normalization of typed and pasted codes', () => {
  const key = generateLicenseKey();
  const variants: Array<[string, string]> = [
    ['lower case', key.toLowerCase()],
    ['spaces around and inside', `  ${key.replace(/-/g, ' - ')}  `],
    ['zero-width space and BOM', `\uFEFF${key.slice(0, 5)}\u200B${key.slice(5)}`],
    ['soft hyphen', key.replace('-', '-\u00AD')],
    ['en dash and minus sign', key.replace('-', '\u2013').replace('-', '\u2212')],
    ['em dash and non-breaking hyphen', key.replace('-', '\u2014').replace('-', '\u2011')],
    ['full-width characters', key.replace(/[0-9A-Z-]/g, (c) => String.fromCharCode(c === '-' ? 0xff0d : c.charCodeAt(0) + 0xfee0))],
    ['no dashes at all', key.replace(/-/g, '')],
    ['tabs and line breaks from a mail program', key.replace(/-/g, '-\r\n\t')],
  ];
  it.each(variants)('reads a key with %s', (_name, typed) => {
    expect(parseCode(typed)).toEqual({ kind: 'license', key });
  });

  it('reads the letter O as the digit 0', () => {
    const withZero = (() => {
      for (;;) {
        const k = generateLicenseKey();
        if (k.slice(2).includes('0')) return k;
      }
    })();
    expect(parseCode(withZero.slice(0, 2) + withZero.slice(2).replace(/0/g, 'O'))).toEqual({ kind: 'license', key: withZero });
    expect(parseCode(withZero.slice(0, 2) + withZero.slice(2).replace(/0/g, 'o'))).toEqual({ kind: 'license', key: withZero });
  });

  it('recognizes the older five-by-five format as legacy', () => {
    expect(parseCode('12345-67890-ABCDE-FGHIJ-KLMNO')).toEqual({ kind: 'legacy' });
    expect(parseCode('12345\u201367890-abcde-fghij-klmno ')).toEqual({ kind: 'legacy' });
  });

  it('tells a mistyped key (wrong length) from something unknown', () => {
    expect(parseCode(key.slice(0, -1)).kind).toBe('typo');
    expect(parseCode(`${key}1`).kind).toBe('typo');
    expect(parseCode('hello world').kind).toBe('unknown');
    expect(parseCode('').kind).toBe('unknown');
  });

  it('reads invite codes with the same normalization', () => {
    const code = generateInviteCode();
    expect(code).toMatch(/^I-[0-9A-F]{3}-[0-9A-F]{3}-[0-9A-F]{3}-[0-9A-F]{3}$/);
    expect(parseCode(` ${code.toLowerCase().replace('-', '\u2013')}\u200B`)).toEqual({ kind: 'invite', code });
  });

  it('normalizes with NFKC before anything else', () => {
    expect(normalizeCode('Ｒ－１２３')).toBe('R-123');
  });
});

describe('R2.3 wider normalization: wrappers, look-alikes, invisible characters (properties)', () => {
  /** Look-alikes per key character, from the table that normalizeCode uses. */
  const lookalikesOf = new Map<string, string[]>();
  for (const [source, target] of KEY_LOOKALIKES) lookalikesOf.set(target, [...(lookalikesOf.get(target) ?? []), source]);
  const fullWidth = (c: string): string => String.fromCharCode(c.charCodeAt(0) + 0xfee0);
  const mathBold = (c: string): string => String.fromCodePoint((/\d/.test(c) ? 0x1d7ce - 0x30 : 0x1d400 - 0x41) + c.charCodeAt(0)); // 𝟎–𝟗, 𝐀–𝐙

  const DASH_VARIANTS = [
    '-',
    '',
    '\u2010',
    '\u2011',
    '\u2012',
    '\u2013',
    '\u2014',
    '\u2015',
    '\u2212',
    '\uFE63',
    '\uFF0D',
    '\u2043',
    '\u02D7',
    '\u30FC',
    '\uFF70',
    '\u2500',
  ];
  const INVISIBLES = [
    ' ',
    '\t',
    '\n',
    '\r\n',
    '\u00A0',
    '\u3000',
    '\u200B',
    '\u200C',
    '\u200D',
    '\u2060',
    '\uFEFF',
    '\u00AD',
    '\u180E',
    '\u200E',
    '\u202E',
    '\u2066',
    '\u034F',
    '\uFE0F',
  ];
  const WRAPPERS: Array<[string, string]> = [
    ['"', '"'],
    ["'", "'"],
    ['`', '`'],
    ['<', '>'],
    ['\uFF1C', '\uFF1E'], // full-width < >
    ['\u00AB', '\u00BB'], // « »
    ['\u00BB', '\u00AB'], // » « (German)
    ['\u201E', '\u201C'], // „ “
    ['\u201C', '\u201D'], // “ ”
    ['\u2018', '\u2019'], // ‘ ’
    ['\u2039', '\u203A'], // ‹ ›
    ['\u300C', '\u300D'], // 「 」
    ['\u300E', '\u300F'], // 『 』
    ['\u3010', '\u3011'], // 【 】
    ['\u3008', '\u3009'], // 〈 〉
    ['(', ')'],
    ['[', ']'],
    ['{', '}'],
  ];

  const hex15 = fc.array(fc.constantFrom(...HEX), { minLength: 15, maxLength: 15 }).map((d) => d.join(''));
  const keyOf = (hex18: string): string => `R-${hex18.match(/.{3}/g)!.join('-')}`;
  const validKey = hex15.map((payload) => keyOf(payload + checksumOf(payload)));

  const gap = fc.oneof({ arbitrary: fc.constant(''), weight: 4 }, { arbitrary: fc.constantFrom(...INVISIBLES), weight: 1 });
  const hexVariant = (c: string): fc.Arbitrary<string> => fc.constantFrom(c, c.toLowerCase(), fullWidth(c), mathBold(c), ...(lookalikesOf.get(c) ?? []));
  const charVariant = (c: string, first: boolean): fc.Arbitrary<string> => {
    if (c === '-') return fc.constantFrom(...DASH_VARIANTS);
    if (first && c === 'R') return fc.constantFrom('R', 'r', fullWidth('R'), mathBold('R'), '\u211B' /* ℛ */);
    if (first && c === 'I') return fc.constantFrom('I', 'i', fullWidth('I'), '\u2160' /* Ⅰ */, ...lookalikesOf.get('1')!);
    return hexVariant(c);
  };
  /** A code as a person might type or paste it: every decoration R2.3 promises to undo. */
  const decorated = (code: string): fc.Arbitrary<string> =>
    fc
      .tuple(
        fc.tuple(...[...code].map((c, i) => fc.tuple(charVariant(c, i === 0), gap))),
        fc.array(fc.constantFrom(...WRAPPERS), { maxLength: 3 }),
        fc.constantFrom('', ' ', '\t', '\r\n', '\u00A0'),
        fc.constantFrom('', ' ', '\n', '\r\n'),
      )
      .map(([chars, wrappers, before, after]) => {
        const body = chars.map(([c, g]) => c + g).join('');
        return before + wrappers.reduce((s, [open, close]) => open + s + close, body) + after;
      });

  it('lists only look-alikes of the key alphabet, each of which NFKC leaves alone', () => {
    for (const [source, target] of KEY_LOOKALIKES) {
      expect(target).toMatch(/^[0-9A-F]$/);
      expect(source).not.toMatch(/^[0-9A-Fa-f]$/);
      expect(source.normalize('NFKC')).toBe(source);
    }
    // Cyrillic Р р and Greek Ρ ρ look like Latin P, not R; Cyrillic Н and Greek Η like H.
    for (const notMapped of ['\u0420', '\u0440', '\u03A1', '\u03C1', '\u041D', '\u0397', 'L', 'S', 'Z', 'G']) expect(KEY_LOOKALIKES.has(notMapped)).toBe(false);
  });

  it('reads any decorated valid key as that key (property)', () => {
    fc.assert(
      fc.property(
        validKey.chain((key) => decorated(key).map((typed) => [key, typed] as const)),
        ([key, typed]) => {
          expect(parseCode(typed)).toEqual({ kind: 'license', key });
        },
      ),
      { numRuns: 5000 },
    );
  });

  it('still calls any decorated key with one mistyped hex digit a typo (property)', () => {
    const typo = fc.tuple(validKey, fc.integer({ min: 0, max: 17 }), fc.integer({ min: 1, max: 15 })).map(([key, position, delta]) => {
      const digits = key.slice(2).replace(/-/g, '').split('');
      digits[position] = HEX[(HEX.indexOf(digits[position]) + delta) % 16];
      return keyOf(digits.join(''));
    });
    fc.assert(
      fc.property(
        typo.chain((key) => decorated(key)),
        (typed) => parseCode(typed).kind === 'typo',
      ),
      { numRuns: 5000 },
    );
  });

  it('reads any decorated invite code as that code, the kind letter I included (property)', () => {
    const inviteCode = fc.array(fc.constantFrom(...HEX), { minLength: 12, maxLength: 12 }).map((d) => `I-${d.join('').match(/.{3}/g)!.join('-')}`);
    fc.assert(
      fc.property(
        inviteCode.chain((code) => decorated(code).map((typed) => [code, typed] as const)),
        ([code, typed]) => {
          expect(parseCode(typed)).toEqual({ kind: 'invite', code });
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('makes no key out of characters that are not in the table (property)', () => {
    // Letters of other scripts that resemble Latin letters outside the key alphabet, and Latin letters
    // outside it: none is a look-alike of 0–9 or A–F, so a key holding one is not a valid key.
    const UNMAPPED = [
      '\u0420',
      '\u0440',
      '\u041D',
      '\u041A',
      '\u041C',
      '\u0422',
      '\u0425',
      '\u0423',
      '\u03A1',
      '\u0397',
      '\u039A',
      '\u039C',
      '\u03A4',
      '\u03A7',
      '\u0396',
      'G',
      'H',
      'L',
      'S',
      'Z',
      'q',
      'g',
      '\u00DF',
    ];
    fc.assert(
      fc.property(validKey, fc.integer({ min: 0, max: 17 }), fc.constantFrom(...UNMAPPED), (key, position, stranger) => {
        const digits = key.slice(2).replace(/-/g, '').split('');
        digits[position] = stranger;
        const result = parseCode(`R-${digits.join('')}`);
        expect(result.kind).toBe('typo');
        // In the kind letter's place: Cyrillic Р is not R.
        expect(parseCode(stranger + key.slice(1)).kind).toBe('unknown');
      }),
      { numRuns: 2000 },
    );
  });

  it('still recognizes decorated five-by-five keys as legacy (property)', () => {
    const ALNUM = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ'.split('');
    const legacy = fc
      .array(fc.array(fc.constantFrom(...ALNUM), { minLength: 5, maxLength: 5 }), { minLength: 5, maxLength: 5 })
      .map((g) => g.map((x) => x.join('')).join('-'));
    const typedLegacy = legacy.chain((code) =>
      fc
        .tuple(
          fc.tuple(...[...code].map((c) => fc.tuple(c === '-' ? fc.constantFrom(...DASH_VARIANTS) : fc.constantFrom(c, c.toLowerCase(), fullWidth(c)), gap))),
          fc.array(fc.constantFrom(...WRAPPERS), { maxLength: 2 }),
        )
        .map(([chars, wrappers]) => wrappers.reduce((s, [open, close]) => open + s + close, chars.map(([c, g]) => c + g).join(''))),
    );
    fc.assert(
      fc.property(typedLegacy, (typed) => {
        expect(parseCode(typed)).toEqual({ kind: 'legacy' });
      }),
      { numRuns: 3000 },
    );
  });

  it('reads look-alikes from other scripts and wrappers (examples)', () => {
    const payload = 'ABC0E1D2345BCEA';
    const key = keyOf(payload + checksumOf(payload));
    // Cyrillic А В С Е, Greek Α Β Ε, Cyrillic and Greek O for 0, I l | for 1.
    const typed = key.replace('A', '\u0410').replace('B', '\u0392').replace('C', '\u0421').replace('0', '\u039F').replace('E', '\u0415').replace('1', 'l');
    expect(typed).not.toBe(key);
    expect(parseCode(typed)).toEqual({ kind: 'license', key });
    expect(parseCode(`<${key.replace('1', '|')}>`)).toEqual({ kind: 'license', key });
    expect(parseCode(`\u00AB${key.replace('1', 'I')}\u00BB`)).toEqual({ kind: 'license', key });
    expect(parseCode(`\u300C${key.toLowerCase()}\u300D`)).toEqual({ kind: 'license', key });
    expect(parseCode(`("${key}")`)).toEqual({ kind: 'license', key });
    expect(parseCode(`[${key}]`)).toEqual({ kind: 'license', key });
    expect(normalizeCode(`"r-\u0430\u0432\u0441-\u0435\u043e\u0456"`)).toBe('R-ABC-E01');
  });

  it('keeps the kind letter: I- stays an invite code, also typed as l, | or Cyrillic І', () => {
    const code = generateInviteCode();
    for (const first of ['I', 'i', 'l', '|', '\u0406', '\u0456', '\u0399', '\u2160'])
      expect(parseCode(first + code.slice(1))).toEqual({ kind: 'invite', code });
    // The digit 1 is not taken for the letter.
    expect(parseCode(`1${code.slice(1)}`).kind).toBe('unknown');
    expect(normalizeCode(`l-1l1-IOo`)).toBe('I-111-100');
  });

  it('reads an invite URL pasted whole, also in angle brackets or quotes', () => {
    const code = generateInviteCode();
    expect(parseCode(`https://licenses.example.com/join/${code}`)).toEqual({ kind: 'invite', code });
    expect(parseCode(`<https://licenses.example.com/join/${code}>`)).toEqual({ kind: 'invite', code });
    expect(parseCode(`"https://licenses.example.com/join/${code.toLowerCase()}"`)).toEqual({ kind: 'invite', code });
    expect(parseCode(`https://licenses.example.com/join/${encodeURIComponent(code.replace('-', '\u2013'))}?utm=mail`)).toEqual({ kind: 'invite', code });
  });
});

test("the README's example keys are keys (its checksum holds), in every spelling it shows", () => {
  const readme = fs.readFileSync(path.resolve(__dirname, '../../README.md'), 'utf8');
  const examples = [...readme.matchAll(/\b[Rr]-[0-9A-Fa-f]{3}(?:-[0-9A-Fa-f]{3}){5}\b/g)].map((m) => m[0]);
  expect(examples.length).toBeGreaterThanOrEqual(2);
  for (const key of examples) expect(parseCode(key)).toEqual({ kind: 'license', key: key.toUpperCase() });
});
