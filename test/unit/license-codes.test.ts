import fc from 'fast-check';
import { checksumOf, generateInviteCode, generateLicenseKey, normalizeCode, parseCode } from '../../src/modules/licenses/codes';

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
