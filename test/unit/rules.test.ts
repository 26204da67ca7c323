import fc from 'fast-check';
import { ConfigError, loadConfig } from '../../src/config';
import { commonPasswordCount, passwordProblem } from '../../src/modules/accounts/passwords';
import { Clock } from '../../src/platform/clock';
import { newPublicId, safeEqual } from '../../src/platform/crypto';
import { negotiateLanguage, userErrorMessage } from '../../src/platform/i18n';
import { userErrorMessages } from '../../src/platform/i18n/messages';

describe('R1.4 password policy (pure)', () => {
  it('ships a list of at least 3,000 common passwords', () => {
    expect(commonPasswordCount()).toBeGreaterThanOrEqual(3000);
  });

  it('counts characters, not bytes or UTF-16 units', () => {
    expect(passwordProblem('😀'.repeat(8))).toBeUndefined();
    expect(passwordProblem('😀'.repeat(7))).toBe('TOO_SHORT');
    expect(passwordProblem('😀'.repeat(129))).toBe('TOO_LONG');
  });

  it('has no composition rules: any uncommon string of 8 to 128 characters is accepted', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 8, maxLength: 128, unit: 'grapheme-ascii' }), (pw) => {
        const problem = passwordProblem(pw);
        return problem === undefined || problem === 'TOO_COMMON';
      }),
    );
  });

  it('refuses common passwords regardless of letter case', () => {
    expect(passwordProblem('PASSWORD1')).toBe('TOO_COMMON');
    expect(passwordProblem('Qwerty123')).toBe('TOO_COMMON');
  });
});

describe('R1.8 language of messages (pure)', () => {
  it.each([
    ['de-AT,de;q=0.9,en;q=0.5', 'DE'],
    ['es-MX', 'ES'],
    ['fr-FR,fr;q=0.9', undefined],
    ['fr-FR,en;q=0.1', 'EN'],
    ['', undefined],
    ['*', undefined],
    ['es;q=0.5,*;q=0.8', 'ES'],
  ])('Accept-Language %j gives %s', (header, lang) => {
    expect(negotiateLanguage(header)).toBe(lang);
  });

  it('has every error code in every language', () => {
    for (const [code, byLang] of Object.entries(userErrorMessages)) {
      for (const lang of ['EN', 'DE', 'ES'] as const) expect(byLang[lang]).toBeTruthy();
      expect(new Set(Object.values(byLang)).size).toBe(3);
      expect(code).toMatch(/^[A-Z_]+$/);
    }
  });

  it('fills in parameters, dates in the language of the message', () => {
    const until = new Date('2030-03-04T05:06:00Z');
    expect(userErrorMessage('DE', 'LOGIN_BLOCKED', undefined, { until })).toContain('4. März 2030');
    expect(userErrorMessage('EN', 'SEATS_EXHAUSTED', undefined, { inUse: 15, total: 15 })).toBe('All seats are in use (15 of 15).');
  });
});

describe('configuration', () => {
  it('refuses TEST_CLOCK when NODE_ENV=production', () => {
    expect(() => loadConfig({ TEST_CLOCK: '1', NODE_ENV: 'production' })).toThrow(ConfigError);
    expect(loadConfig({ TEST_CLOCK: '1' }).testClock).toBe(true);
  });

  it('uses the contract defaults', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      port: 4000,
      host: '127.0.0.1',
      databaseUrl: undefined,
      publicUrl: 'http://localhost:4000',
      mailFrom: 'no-reply@localhost',
      seatTimeoutSeconds: 28800,
      heartbeatIntervalSeconds: 900,
      rateLimitFactor: 1,
      trustProxyHops: 0,
      logLevel: 'info',
      testClock: false,
    });
    expect(c.dataDir).toMatch(/\.data$/);
  });

  it('names the setting at fault', () => {
    expect(() => loadConfig({ PORT: 'eighty' })).toThrow(/PORT/);
    expect(() => loadConfig({ DATABASE_URL: 'mysql://x' })).toThrow(/DATABASE_URL/);
    expect(() => loadConfig({ APP_SECRET: 'short' })).toThrow(/APP_SECRET/);
    expect(() => loadConfig({ RATE_LIMIT_FACTOR: '0' })).toThrow(/RATE_LIMIT_FACTOR/);
  });
});

describe('clock and identifiers', () => {
  it('moves only a test clock, and only forward', () => {
    const fixed = new Clock(false);
    expect(() => fixed.advance(1)).toThrow();
    const test = new Clock(true);
    const before = test.nowMs();
    test.advance(3600);
    expect(test.nowMs() - before).toBeGreaterThanOrEqual(3600_000);
    expect(() => test.advance(-1)).toThrow(RangeError);
  });

  it('makes user IDs of the form A-XXX-XXX (R1.2)', () => {
    for (let i = 0; i < 200; i++) expect(newPublicId('A')).toMatch(/^A-[0-9A-F]{3}-[0-9A-F]{3}$/);
  });

  it('compares secrets of any length without throwing', () => {
    expect(safeEqual('abc', 'abc')).toBe(true);
    expect(safeEqual('abc', 'abcd')).toBe(false);
    expect(safeEqual('', 'x')).toBe(false);
  });
});
