import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import fc from 'fast-check';
import {
  buildSchema,
  getNamedType,
  isEnumType,
  isInputObjectType,
  isLeafType,
  isListType,
  isNonNullType,
  isObjectType,
  isScalarType,
  type GraphQLArgument,
  type GraphQLField,
  type GraphQLInputType,
  type GraphQLNamedType,
  type GraphQLSchema,
} from 'graphql';
import { createOfflineRequest } from '../../src/offline/request';
import { acquire, join, newAccount, newOrganization, issueLicense, PASSWORD, type NewAccount } from '../helpers/factories';
import { SHOP_TOKEN, startTestServer, type TestServer } from '../helpers/server';

/**
 * Fuzzing the public surface (issue 12, item 5). A few thousand generated and mutated requests go
 * to a real server on a real PostgreSQL:
 *
 * - GraphQL documents built from the SDL (schema/*.graphql, read with graphql-js): every Query,
 *   Mutation and Subscription field with arguments of the right and of wrong types, inline and as
 *   variables (also with wrong declared types, missing and extra variables), with selections that
 *   reach nested fields and their arguments (page sizes, cursors);
 * - raw documents: generated ones truncated and mutated, and hand-made attacks (alias and directive
 *   floods, deep nesting, fragment cycles and bombs, the token limit's edge, huge literals);
 * - malformed HTTP: invalid JSON, wrong content types and encodings, batches, wrong methods,
 *   GET requests, odd Accept and Authorization headers, oversized bodies, raw bytes on the socket;
 * - offline requests (src/offline/request.ts) with corrupted base64url and fields, through the
 *   `validateOfflineRequest` mutation and the `/offline` pages, and the other pages emailed links
 *   lead to (`/verify-email`, `/reset-password`, `/join/<code>`).
 *
 * Each is sent anonymously, as verified accounts (an organization's owner and a member), as an
 * unverified account, with the web shop's token and with bogus Authorization headers. For every
 * answer: no 5xx, no stack trace or driver/runtime text, no INTERNAL_SERVER_ERROR, an answer at all
 * (the process keeps running); nothing is logged at error level; the server answers its probes
 * afterwards. Failures name the request (role, method, path, headers, body) and its index.
 *
 * The server runs with NODE_ENV=production: that is what clients meet (outside production Apollo adds
 * `extensions.stacktrace` to every error on purpose). The seed is fixed; FUZZ_SEED=<n> tries others,
 * FUZZ_SCALE=<x> multiplies the number of requests, FUZZ_DUMP=<file> writes every request and answer.
 * Documents that log out go anonymously (the fuzzing accounts keep their sessions); a burner account
 * logs out for real at the end.
 */

const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : 0x7e55e7a;
const SCALE = process.env.FUZZ_SCALE ? Number(process.env.FUZZ_SCALE) : 1;
const COUNTS = {
  graphql: Math.round(1200 * SCALE),
  rawDocument: Math.round(360 * SCALE),
  http: Math.round(200 * SCALE),
  offline: Math.round(200 * SCALE),
  page: Math.round(70 * SCALE),
};
const CONCURRENCY = 4;
/** An answer slower than this counts as a hang. */
const REQUEST_TIMEOUT_MS = 15_000;

// ---------------------------------------------------------------------------------------------
// The schema, straight from the SDL files the server serves.

function loadSdl(): GraphQLSchema {
  const dir = path.join(__dirname, '..', '..', 'schema');
  const sdl = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.graphql'))
    .sort()
    .map((f) => fs.readFileSync(path.join(dir, f), 'utf8'))
    .join('\n');
  return buildSchema(sdl);
}

// ---------------------------------------------------------------------------------------------
// Values: a small tree rendered both as a GraphQL literal and as JSON (for variables).

type V =
  | { k: 'null' }
  | { k: 'str'; v: string }
  /** A number as written, in GraphQL and in JSON alike (`1e400`, `-0`, `2147483648`). */
  | { k: 'num'; raw: string }
  | { k: 'bool'; v: boolean }
  /** A bare name in GraphQL, a string in JSON. */
  | { k: 'enum'; v: string }
  | { k: 'list'; items: V[] }
  | { k: 'obj'; fields: Array<[string, V]> }
  /** Pre-rendered (deeply nested values, which would overflow a recursive renderer). */
  | { k: 'raw'; literal: string; json: string };

const NULL: V = { k: 'null' };
const str = (v: string): V => ({ k: 'str', v });
const num = (raw: string): V => ({ k: 'num', raw });

function toLiteral(v: V): string {
  switch (v.k) {
    case 'null':
      return 'null';
    case 'str':
      return JSON.stringify(v.v); // JSON's escapes are GraphQL's (a lone surrogate's \uD800 is a parse error there)
    case 'num':
      return v.raw;
    case 'bool':
      return String(v.v);
    case 'enum':
      return v.v;
    case 'list':
      return `[${v.items.map(toLiteral).join(', ')}]`;
    case 'obj':
      return `{${v.fields.map(([k, f]) => `${k}: ${toLiteral(f)}`).join(', ')}}`;
    case 'raw':
      return v.literal;
  }
}

function toJson(v: V): string {
  switch (v.k) {
    case 'null':
      return 'null';
    case 'str':
    case 'enum':
      return JSON.stringify(v.v);
    case 'num':
      return v.raw;
    case 'bool':
      return String(v.v);
    case 'list':
      return `[${v.items.map(toJson).join(',')}]`;
    case 'obj':
      return `{${v.fields.map(([k, f]) => `${JSON.stringify(k)}:${toJson(f)}`).join(',')}}`;
    case 'raw':
      return v.json;
  }
}

function nestedList(depth: number, inner: V): V {
  return { k: 'raw', literal: `${'['.repeat(depth)}${toLiteral(inner)}${']'.repeat(depth)}`, json: `${'['.repeat(depth)}${toJson(inner)}${']'.repeat(depth)}` };
}

function nestedObject(depth: number, inner: V): V {
  return {
    k: 'raw',
    literal: `${'{a: '.repeat(depth)}${toLiteral(inner)}${'}'.repeat(depth)}`,
    json: `${'{"a":'.repeat(depth)}${toJson(inner)}${'}'.repeat(depth)}`,
  };
}

interface Rendered {
  query: string;
  variables: string;
  operationName: string | null;
}

// ---------------------------------------------------------------------------------------------
// What the run knows about the server's data, so that generated values also hit real rows.

interface Known {
  base: string;
  owner: NewAccount;
  member: NewAccount;
  unverified: NewAccount;
  burner: NewAccount;
  orgId: string;
  membershipId: string;
  inviteCode: string;
  inviteUrl: string;
  licenseId: string;
  licensePublicId: string;
  licenseKey: string;
  spareKey: string;
  leaseIds: string[];
  memberCursor: string;
  auditCursor: string;
}

const HUGE = {
  k60: 'x'.repeat(60_000),
  k100: 'y'.repeat(100_000), // about the body limit (100 KiB) with the rest of the request
  k200: 'z'.repeat(200_000), // over it: 413
  wide: '\u00e9'.repeat(30_000), // 60 KB of UTF-8
  rtl: '\u202e'.repeat(20_000),
  combining: 'e' + '\u0301'.repeat(20_000),
  nfkc: '\ufdfa'.repeat(5_000), // NFKC makes each one 18 characters
  nul: '\u0000'.repeat(10_000),
  emoji: '\u{1F600}'.repeat(10_000),
};

const NASTY: string[] = [
  '',
  ' ',
  '\t\n\r',
  '\u0000',
  'a\u0000b',
  '\u0000\u0000\u0000',
  '\u202eevil\u202c',
  '\u202dLTR\u202a',
  '\u200b',
  '\ufeff',
  '\u00ad',
  '\u2028\u2029',
  'e\u0301\u0302\u0303\u0304\u0305\u0306\u0307\u0308',
  'Z\u0351\u0352\u0353\u0354\u0355\u0356\u0357\u0358\u0359\u035a\u035b',
  '\ud800',
  '\udfff',
  'x\ud83d',
  '\udc00\ud800',
  '\u{1F600}',
  '\u{10FFFF}',
  '\uffff\ufffe',
  '\u0007\u001b[31m',
  '%00',
  '%s%n%x',
  '{{7*7}}',
  '${7*7}',
  "'; DROP TABLE accounts; --",
  "' OR '1'='1",
  '\\',
  '\\u0000',
  '"',
  '<script>alert(1)</script>',
  '../../etc/passwd',
  'null',
  'undefined',
  'NaN',
  'Infinity',
  '-Infinity',
  '1e308',
  '-1',
  '0x1F',
  '1_000',
  ' 5 ',
  '\u0661\u0662\u0663', // Arabic-Indic digits
  '\uff11\uff12\uff13', // full-width digits
  '__proto__',
  'constructor',
  'toString',
  HUGE.k60,
  HUGE.k100,
  HUGE.k200,
  HUGE.wide,
  HUGE.rtl,
  HUGE.combining,
  HUGE.nfkc,
  HUGE.nul,
  HUGE.emoji,
];

const nastyArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...NASTY) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ maxLength: 300 }) },
);

/** Lowercase hex digits (fast-check 4 has no hexaString). */
const hexString = (o: { minLength: number; maxLength: number }) => fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), ...o });

const fullWidth = (s: string) => s.replace(/[!-~]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 0xfee0));

/** Variants of a code as people (and attackers) type it: typos, swaps, other dashes, look-alikes. */
function codeVariants(code: string): fc.Arbitrary<string> {
  const hexAt = [...code].map((c, i) => (/[0-9A-F]/.test(c) && i > 1 ? i : -1)).filter((i) => i >= 0);
  return fc.oneof(
    fc.constant(code),
    fc.constant(code.toLowerCase()),
    fc.constant(code.replace(/-/g, '')),
    fc.constant(code.replace(/-/g, '\u2013')),
    fc.constant(code.replace(/-/g, '\u30fc')),
    fc.constant(code.replace(/0/g, 'O')),
    fc.constant(fullWidth(code)),
    fc.constant(`  \u200b${code}\u00ad\ufeff `),
    fc.constant(`\u00ab${code}\u00bb`),
    fc.constant(`${code}${code}`),
    fc.constant(code.slice(0, -1)),
    fc.constant(`${code}\u0000`),
    fc.constant(`\u202e${code}`),
    fc.constant(code.replace(/-/g, '\u200b-\u200b'.repeat(500))),
    fc.tuple(fc.constantFrom(...hexAt), fc.constantFrom(...'0123456789ABCDEF')).map(([i, d]) => code.slice(0, i) + d + code.slice(i + 1)),
    fc.constantFrom(...hexAt.slice(0, -1)).map((i) => code.slice(0, i) + code[i + 1] + code[i] + code.slice(i + 2)),
  );
}

function arbitrariesFor(schema: GraphQLSchema, k: Known) {
  const realIds = [k.orgId, k.membershipId, k.licenseId, ...k.leaseIds, k.owner.account.id, k.member.account.id];
  const idArb: fc.Arbitrary<string> = fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...realIds) },
    { weight: 2, arbitrary: fc.uuid() },
    {
      weight: 3,
      arbitrary: fc.constantFrom(
        '00000000-0000-0000-0000-000000000000',
        'ffffffff-ffff-ffff-ffff-ffffffffffff',
        '123e4567-e89b-02d3-a456-426614174000', // version 0
        '123e4567-e89b-f2d3-a456-426614174000', // version 15
        '123e4567-e89b-42d3-c456-42661417400', // one digit short
        '123e4567-e89b-42d3-a456-4266141740000', // one too many
        '123e4567e89b42d3a456426614174000',
        '{123e4567-e89b-42d3-a456-426614174000}',
        'urn:uuid:123e4567-e89b-42d3-a456-426614174000',
        '123e4567-e89b-42d3-a456-42661417400g',
        'L-1A2-B3C',
        k.licensePublicId, // the public license ID where the opaque one belongs
        'A-1A2-B3C',
        '1',
        '0',
        '-1',
        '2147483648',
        '9223372036854775808',
        '1e308',
        'x'.repeat(10_000),
      ),
    },
    { weight: 2, arbitrary: fc.constantFrom(...realIds).map((id) => id.toUpperCase()) },
    {
      weight: 2,
      arbitrary: fc
        .tuple(fc.constantFrom(...realIds), fc.constantFrom(' ', '\u0000', '\n', '\u200b', '\u202e', "'", '--', '\ud800'))
        .map(([id, s]) => (id.length % 2 ? id + s : s + id)),
    },
    { weight: 2, arbitrary: nastyArb },
  );
  /** The real IDs of the kind an argument names come first, then any ID. */
  const idFor = (name: string): fc.Arbitrary<string> => {
    const own = /lease/i.test(name) ? k.leaseIds : /organization/i.test(name) ? [k.orgId] : /membership/i.test(name) ? [k.membershipId] : [];
    return own.length ? fc.oneof({ weight: 2, arbitrary: fc.constantFrom(...own) }, { weight: 3, arbitrary: idArb }) : idArb;
  };
  const deviceArb: fc.Arbitrary<string> = fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom('DESKTOP-7Q2K/disk-0001', 'owner-device-1', 'member-device-1', 'MAC-ABCDEF') },
    { weight: 2, arbitrary: hexString({ minLength: 1, maxLength: 40 }).map((h) => `dev-${h}`) },
    {
      weight: 3,
      arbitrary: fc.constantFrom(
        'd'.repeat(256),
        'd'.repeat(257),
        '\u{1F600}'.repeat(128), // 256 UTF-16 units
        '\u{1F600}'.repeat(129),
        '  ',
        '\u3000',
        '\u200b',
        'dev\u0000ice',
        'dev\u202eice',
        'dev\ud800',
      ),
    },
    { weight: 2, arbitrary: nastyArb },
  );
  const codeArb: fc.Arbitrary<string> = fc.oneof(
    { weight: 3, arbitrary: codeVariants(k.licenseKey) },
    { weight: 2, arbitrary: codeVariants(k.spareKey) },
    { weight: 3, arbitrary: codeVariants(k.inviteCode) },
    {
      weight: 2,
      arbitrary: fc.constantFrom(
        k.inviteUrl,
        `${k.inviteUrl}?x=1#frag`,
        k.inviteUrl.replace('http://', 'https://evil.example@'),
        `https://evil.example/join/${k.inviteCode}`,
        `${k.base}/join/`,
        `${k.base}/join/${'I'.repeat(5000)}`,
        `${k.base}/join/%E0%A4%A`,
        `${k.base}/join/%00`,
        'javascript:alert(1)',
        '12345-67890-ABCDE-FGHIJ-KLMNO',
        '12345-67890-ABCDE-FGHIJ-KLMN',
        'R-000-000-000-000-000-000',
        'I-000-000-000-000',
        `R-${'F'.repeat(1000)}`,
        '-'.repeat(5000),
        '\u2013'.repeat(5000),
        HUGE.nfkc,
      ),
    },
    { weight: 2, arbitrary: hexString({ minLength: 15, maxLength: 18 }).map((h) => `R-${h.toUpperCase()}`) },
    { weight: 2, arbitrary: nastyArb },
  );
  const cursorOf = (json: string) => Buffer.from(json, 'utf8').toString('base64url');
  const uuid = '123e4567-e89b-42d3-a456-426614174000';
  const cursorArb: fc.Arbitrary<string> = fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(k.memberCursor, k.auditCursor) },
    {
      weight: 4,
      arbitrary: fc
        .constantFrom(
          `["2024-02-30T00:00:00.000Z","${uuid}"]`,
          `["0000-01-01T00:00:00.000Z","${uuid}"]`,
          `["9999-12-31T23:59:59.999Z","ffffffff-ffff-ffff-ffff-ffffffffffff"]`,
          `["2024-01-01T24:00Z","${uuid}"]`,
          `["2024-01-01T00:00:00.0000000000001Z","${uuid}"]`,
          `["2024-01-01T00:00:00.000Z","${uuid}","extra"]`,
          `["2024-01-01T00:00:00.000Z"]`,
          `["2024-01-01T00:00:00.000Z","not-a-uuid"]`,
          `["2024-01-01T00:00:00.000Z",1]`,
          `[null,null]`,
          `["999999999999999999"]`,
          `["9223372036854775808"]`,
          `["-1"]`,
          `["0"]`,
          `[1e308]`,
          `[-1]`,
          `["1e308"]`,
          `{"a":1}`,
          `{"__proto__":{"x":1}}`,
          '[]',
          'null',
          '"x"',
          '1',
          '[',
          `${'['.repeat(5000)}${']'.repeat(5000)}`,
          `["${'9'.repeat(5000)}"]`,
        )
        .map(cursorOf),
    },
    { weight: 2, arbitrary: fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b).toString('base64url')) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b).toString('base64')) },
    { weight: 1, arbitrary: fc.constantFrom(k.memberCursor, k.auditCursor).map((c) => c.slice(0, Math.max(1, c.length - 3))) },
    { weight: 1, arbitrary: fc.constantFrom(k.memberCursor, k.auditCursor).map((c) => `${c}==`) },
    { weight: 2, arbitrary: nastyArb },
  );
  const emailArb: fc.Arbitrary<string> = fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(k.owner.email, k.member.email, k.unverified.email, k.owner.email.toUpperCase(), ` ${k.owner.email} `) },
    { weight: 1, arbitrary: fc.nat(1_000_000).map((n) => `fuzz-${n}@example.com`) },
    {
      weight: 3,
      arbitrary: fc.constantFrom(
        'a@b',
        '@example.com',
        'user@',
        `${'a'.repeat(300)}@example.com`,
        `user@${'a'.repeat(250)}.com`,
        '"quoted spaces"@example.com',
        'us\u0000er@example.com',
        'user@exa\u202emple.com',
        '\u00fcnicode@ex\u00e4mple.com',
        'user+tag@example.com',
        'user@[127.0.0.1]',
        'a@b.c'.repeat(5000),
      ),
    },
    { weight: 2, arbitrary: nastyArb },
  );
  const passwordArb: fc.Arbitrary<string> = fc.oneof(
    { weight: 2, arbitrary: fc.constant(PASSWORD) },
    {
      weight: 3,
      arbitrary: fc.constantFrom(
        'password',
        '1234567',
        'p'.repeat(128),
        'p'.repeat(129),
        '\u{1F600}'.repeat(64),
        '\u{1F600}'.repeat(65),
        'pass\u0000word!x',
        '',
      ),
    },
    { weight: 2, arbitrary: nastyArb },
  );
  const userIdArb: fc.Arbitrary<string> = fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(k.owner.account.userId, k.member.account.userId, k.unverified.account.userId) },
    { weight: 2, arbitrary: fc.constantFrom(k.owner.account.userId.toLowerCase(), 'A-000-000', 'A-XXX-XXX', 'A-1234-567', `${k.owner.account.userId} `) },
    { weight: 2, arbitrary: nastyArb },
  );
  const tokenArb: fc.Arbitrary<string> = fc.oneof(
    hexString({ minLength: 64, maxLength: 64 }),
    fc.constantFrom(SHOP_TOKEN, k.owner.token, 'x'.repeat(50_000)),
    nastyArb,
  );
  const domainArb: fc.Arbitrary<string> = fc.oneof(
    fc.constantFrom(
      'example.com',
      'EXAMPLE.COM',
      '.example.com',
      'example.com.',
      '*.example.com',
      'xn--',
      '\u4f8b\u3048.jp',
      'ex ample.com',
      'a'.repeat(300),
      '.',
      '',
    ),
    nastyArb,
  );
  const validDateArb: fc.Arbitrary<V> = fc
    .constantFrom(
      '2040-01-01T00:00:00.000Z',
      '2020-01-01T00:00:00.000Z',
      '9999-12-31T23:59:59.999Z',
      '1970-01-01T00:00:00Z',
      '2040-01-01T00:00:00+14:00',
      '2040-01-01T23:59:59.123Z',
    )
    .map(str);
  const dateArb: fc.Arbitrary<V> = fc.oneof(
    {
      weight: 4,
      arbitrary: fc
        .constantFrom(
          '2040-01-01T00:00:00.000Z',
          '2020-01-01T00:00:00.000Z',
          '2024-02-30T00:00:00Z',
          '9999-12-31T23:59:59.999Z',
          '+275760-09-13T00:00:00.000Z',
          '-000001-01-01T00:00:00.000Z',
          '0000-01-01T00:00:00Z',
          '1970-01-01T00:00:00Z',
          '2040-01-01T00:00:00+14:00',
          '2040-01-01T00:00:60Z',
          '2040-01-01T24:00:00Z',
          '2040-01-01T23:59:59.123456789Z',
          '2040-01-01',
          '2040-13-01T00:00:00Z',
          'now',
          '',
        )
        .map(str),
    },
    { weight: 1, arbitrary: fc.constantFrom('0', '-1', '1e308', '253402300800000', '8640000000000001', '1.5').map(num) },
    { weight: 1, arbitrary: nastyArb.map(str) },
  );
  const textArb: fc.Arbitrary<string> = fc.oneof(
    {
      weight: 2,
      arbitrary: fc.constantFrom('Ada', 'Test University', 'order-1001', 'n'.repeat(200), 'n'.repeat(201), '\u{1F600}'.repeat(200), '\u{1F600}'.repeat(201)),
    },
    { weight: 1, arbitrary: fc.string({ minLength: 1, maxLength: 30 }) },
    { weight: 3, arbitrary: nastyArb },
  );

  const INT_OK = ['0', '1', '2', '5', '7', '15', '30', '31', '50', '100', '101', '365', '3600', '86400', '2147483647', '-2147483648', '-1'];
  const intArb: fc.Arbitrary<V> = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...INT_OK).map(num) },
    { weight: 1, arbitrary: fc.integer().map((n) => num(String(n))) },
  );
  const numberWrongArb: fc.Arbitrary<V> = fc.constantFrom(
    ...[
      '2147483648',
      '-2147483649',
      '4294967296',
      '1e308',
      '-1e308',
      '1.5',
      '-0',
      '1e400',
      '1e2',
      '0.0',
      '9007199254740993',
      '123456789012345678901234567890',
    ].map(num),
    ...['NaN', 'Infinity', '-Infinity', '1', '0x10', '', ' 1'].map(str),
  );

  /** Strings chosen by what the argument or input field is called. */
  function stringArb(name: string): fc.Arbitrary<string> {
    if (name === 'deviceId') return deviceArb;
    if (name === 'code') return codeArb;
    if (name === 'request') return offlineRequestArb(k);
    if (name === 'after') return cursorArb;
    if (/email/i.test(name)) return emailArb;
    if (/password/i.test(name)) return passwordArb;
    if (name === 'token') return tokenArb;
    if (/userId$/i.test(name)) return userIdArb;
    if (/^id$|Id$/.test(name)) return idFor(name);
    if (name === 'allowedEmailDomains') return domainArb;
    return textArb;
  }

  /** Any value at all, mostly of the wrong type for wherever it lands. */
  const wrongMemo = new Map<number, fc.Arbitrary<V>>();
  function wrongArb(depth: number): fc.Arbitrary<V> {
    const memo = wrongMemo.get(depth);
    if (memo) return memo;
    const leaves: Array<fc.WeightedArbitrary<V>> = [
      { weight: 3, arbitrary: fc.constant(NULL) },
      { weight: 3, arbitrary: numberWrongArb },
      { weight: 1, arbitrary: intArb },
      { weight: 2, arbitrary: fc.boolean().map((v): V => ({ k: 'bool', v })) },
      { weight: 3, arbitrary: nastyArb.map(str) },
      { weight: 1, arbitrary: fc.constantFrom('WINDOWS', 'CLOUD', 'EN', 'ACTIVE', 'windows', 'NOPE', 'true', 'null').map((v): V => ({ k: 'enum', v })) },
      {
        weight: 1,
        arbitrary: fc.constantFrom(
          nestedList(50, str('x')),
          nestedList(900, NULL),
          nestedList(5000, num('1')),
          nestedObject(300, NULL),
          nestedObject(5000, num('1')),
          { k: 'list', items: Array.from({ length: 3000 }, () => str('a.com')) },
          { k: 'list', items: [] },
          { k: 'obj', fields: [] },
        ),
      },
    ];
    const arb =
      depth <= 0
        ? fc.oneof(...leaves)
        : fc.oneof(
            ...leaves,
            { weight: 2, arbitrary: fc.array(wrongArb(depth - 1), { maxLength: 4 }).map((items): V => ({ k: 'list', items })) },
            {
              weight: 2,
              arbitrary: fc
                .array(
                  fc.tuple(fc.constantFrom('a', 'input', 'id', '__proto__', 'constructor', 'toString', 'valueOf', 'hasOwnProperty'), wrongArb(depth - 1)),
                  {
                    maxLength: 3,
                  },
                )
                .map((fields): V => ({ k: 'obj', fields })),
            },
          );
    wrongMemo.set(depth, arb);
    return arb;
  }

  /**
   * Documents from the schema. `dirty` ones get values of wrong types too (and wrong declared
   * variable types, missing arguments and variables, selections on leaves...): mostly refused by
   * validation. Clean ones are valid GraphQL with awkward values, so they reach the resolvers.
   */
  const documentsFor = (dirty: boolean): fc.Arbitrary<Rendered> => {
    const D = dirty ? 1 : 0;
    const valueMemo = new Map<string, fc.Arbitrary<V>>();
    /** A value for an input type: of the right type (with awkward content) most of the time, anything otherwise. */
    function valueArb(type: GraphQLInputType, name: string, depth = 2): fc.Arbitrary<V> {
      const key = `${String(type)}|${name}|${depth}`;
      const memo = valueMemo.get(key);
      if (memo) return memo;
      const arb = fc.oneof({ weight: 7, arbitrary: rightArb(type, name, depth) }, { weight: 2 * D, arbitrary: wrongArb(1) });
      valueMemo.set(key, arb);
      return arb;
    }

    function rightArb(type: GraphQLInputType, name: string, depth: number): fc.Arbitrary<V> {
      if (isNonNullType(type)) return rightNonNull(type.ofType, name, depth);
      return fc.oneof({ weight: 1, arbitrary: fc.constant(NULL) }, { weight: 5, arbitrary: rightNonNull(type, name, depth) });
    }

    function rightNonNull(type: GraphQLInputType, name: string, depth: number): fc.Arbitrary<V> {
      if (isNonNullType(type)) return rightNonNull(type.ofType, name, depth);
      if (isListType(type)) {
        const item = depth > 0 ? valueArb(type.ofType, name, depth - 1) : rightArb(type.ofType, name, 0);
        return fc.oneof(
          { weight: 4, arbitrary: fc.array(item, { maxLength: 4 }).map((items): V => ({ k: 'list', items })) },
          { weight: 1, arbitrary: item }, // a single value where a list is expected (input coercion allows it)
        );
      }
      if (isEnumType(type)) {
        const names = type.getValues().map((v) => v.name);
        return fc.oneof(
          { weight: 6, arbitrary: fc.constantFrom(...names).map((v): V => ({ k: 'enum', v })) },
          { weight: D, arbitrary: fc.constantFrom(...names).map((v) => str(v)) }, // a string literal: right as JSON, wrong inline
          { weight: D, arbitrary: fc.constantFrom(...names).map((v): V => ({ k: 'enum', v: v.toLowerCase() })) },
        );
      }
      if (isInputObjectType(type)) {
        const fields = Object.values(type.getFields());
        const fieldArbs = fields.map((f) => {
          const required = isNonNullType(f.type) && f.defaultValue === undefined;
          const value = depth > 0 ? valueArb(f.type, f.name, depth - 1) : rightArb(f.type, f.name, 0);
          return fc.oneof(
            { weight: required ? D : 4, arbitrary: fc.constant(undefined) },
            { weight: required ? 19 : 5, arbitrary: value.map((v): [string, V] => [f.name, v]) },
          );
        });
        const extra = fc.oneof(
          { weight: 9, arbitrary: fc.constant(undefined) },
          { weight: D, arbitrary: fc.tuple(fc.constantFrom('unknownField', '__proto__', 'constructor', 'toString'), wrongArb(0)) },
        );
        return fc.tuple(fc.tuple(...fieldArbs), extra).map(([picked, more]): V => {
          const out = picked.filter((p): p is [string, V] => p !== undefined);
          if (more) out.push(more);
          return { k: 'obj', fields: out };
        });
      }
      if (isScalarType(type)) {
        switch (type.name) {
          case 'Int':
            return intArb;
          case 'Float':
            return fc.oneof(
              intArb,
              fc.double().map((d) => num(Number.isFinite(d) ? String(d) : '1e308')),
            );
          case 'Boolean':
            return fc.boolean().map((v): V => ({ k: 'bool', v }));
          case 'DateTime':
            return dirty ? dateArb : validDateArb;
          case 'EmailAddress':
            return emailArb.map(str);
          default:
            return fc.oneof({ weight: 9, arbitrary: stringArb(name).map(str) }, { weight: type.name === 'ID' ? 1 : 0, arbitrary: intArb });
        }
      }
      return wrongArb(0);
    }

    // ---- documents ----

    interface ArgNode {
      name: string;
      type: string;
      value: V;
      /** Left out of the field, or (as a variable) of the variables. */
      omit: boolean;
      asVariable: boolean;
      /** The declared variable type: the argument's own, or now and then another. */
      declared: string;
      missingVariable: boolean;
    }
    interface FieldNode {
      name: string;
      alias: boolean;
      args: ArgNode[];
      selection: FieldNode[] | null;
    }

    const DECLARED_WRONG = ['String', 'String!', 'Int', 'Int!', 'ID!', '[String!]!', 'Boolean', 'DateTime', 'Platform', 'Nope', '[[ID]]'];

    function argArb(arg: GraphQLArgument): fc.Arbitrary<ArgNode> {
      const required = isNonNullType(arg.type) && arg.defaultValue === undefined;
      return fc
        .tuple(valueArb(arg.type, arg.name), fc.nat(99), fc.nat(99), fc.nat(99), fc.nat(DECLARED_WRONG.length - 1))
        .map(([value, omitRoll, varRoll, declRoll, declPick]) => ({
          name: arg.name,
          type: String(arg.type),
          value,
          omit: omitRoll < (required ? 3 * D : 35),
          asVariable: varRoll < 55,
          declared: dirty && declRoll < 8 ? DECLARED_WRONG[declPick] : String(arg.type),
          missingVariable: dirty && declRoll >= 96,
        }));
    }

    const selectionMemo = new Map<string, fc.Arbitrary<FieldNode[]>>();
    function selectionArb(type: GraphQLNamedType, depth: number): fc.Arbitrary<FieldNode[]> {
      const key = `${type.name}|${depth}`;
      const memo = selectionMemo.get(key);
      if (memo) return memo;
      const typename: FieldNode = { name: '__typename', alias: false, args: [], selection: null };
      if (!isObjectType(type)) return fc.constant([typename]);
      const fields = Object.values(type.getFields()).filter((f) => depth > 0 || isLeafType(getNamedType(f.type)));
      const picks = fields.map((f) =>
        fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fieldArb(f as GraphQLField<unknown, unknown>, depth - 1) }),
      );
      const arb = fc.tuple(...picks).map((chosen) => {
        const out = chosen.filter((c): c is FieldNode => c !== undefined);
        return out.length > 0 ? out : [typename];
      });
      selectionMemo.set(key, arb);
      return arb;
    }

    function fieldArb(field: GraphQLField<unknown, unknown>, depth: number): fc.Arbitrary<FieldNode> {
      const named = getNamedType(field.type);
      const selection: fc.Arbitrary<FieldNode[] | null> = isLeafType(named)
        ? fc.oneof(
            { weight: 19, arbitrary: fc.constant(null) },
            { weight: D, arbitrary: fc.constant<FieldNode[]>([{ name: '__typename', alias: false, args: [], selection: null }]) },
          )
        : fc.oneof({ weight: 19, arbitrary: selectionArb(named, Math.max(0, depth)) }, { weight: D, arbitrary: fc.constant(null) });
      return fc
        .tuple(fc.tuple(...field.args.map(argArb)), selection, fc.boolean())
        .map(([args, sel, alias]) => ({ name: field.name, alias, args, selection: sel }));
    }

    interface Operation {
      kind: 'query' | 'mutation' | 'subscription';
      name: string | null;
      fields: FieldNode[];
      shorthand: boolean;
      extraVariables: Array<[string, V]>;
      variablesNotObject: string | null;
    }

    const rootArb = (kind: Operation['kind']) => {
      const root = kind === 'query' ? schema.getQueryType() : kind === 'mutation' ? schema.getMutationType() : schema.getSubscriptionType();
      const fields = Object.values(root!.getFields()) as Array<GraphQLField<unknown, unknown>>;
      return fc.array(fc.oneof(...fields.map((f) => fieldArb(f, 3))), { minLength: 1, maxLength: kind === 'subscription' && !dirty ? 1 : 3 });
    };
    const kindArb = fc.oneof(
      { weight: 5, arbitrary: fc.constant('query' as const) },
      { weight: 6, arbitrary: fc.constant('mutation' as const) },
      { weight: 1, arbitrary: fc.constant('subscription' as const) },
    );
    const operationArb: fc.Arbitrary<Operation> = kindArb.chain((kind) =>
      fc.record({
        kind: fc.constant(kind),
        name: fc.option(fc.constantFrom('Fuzz', 'F_1', '__proto__'), { freq: 3, nil: null }),
        fields: rootArb(kind),
        shorthand: fc.boolean(),
        extraVariables: fc.oneof(
          { weight: 9, arbitrary: fc.constant([] as Array<[string, V]>) },
          { weight: 1, arbitrary: fc.array(fc.tuple(fc.constantFrom('unused', '__proto__', 'constructor'), wrongArb(1)), { minLength: 1, maxLength: 2 }) },
        ),
        variablesNotObject: fc.oneof({ weight: 30, arbitrary: fc.constant(null) }, { weight: D, arbitrary: fc.constantFrom('"{}"', '[]', '1', 'true', '"x"') }),
      }),
    );

    function render(op: Operation): Rendered {
      const decls: string[] = [];
      const vars: Array<[string, V]> = [];
      let counter = 0;
      const renderFields = (fields: FieldNode[], root: boolean): string =>
        fields
          .map((f, i) => {
            const args = f.args
              .filter((a) => !a.omit)
              .map((a) => {
                if (!a.asVariable) return `${a.name}: ${toLiteral(a.value)}`;
                const name = `${a.name}${counter++}`;
                decls.push(`$${name}: ${a.declared}`);
                if (!a.missingVariable) vars.push([name, a.value]);
                return `${a.name}: $${name}`;
              });
            const alias = root || f.alias ? `a${i}_${f.name}: ` : '';
            const sel = f.selection ? ` { ${renderFields(f.selection, false)} }` : '';
            return `${alias}${f.name}${args.length ? `(${args.join(', ')})` : ''}${sel}`;
          })
          .join(' ');
      const body = renderFields(op.fields, true);
      const head =
        op.kind === 'query' && op.shorthand && decls.length === 0 && !op.name
          ? ''
          : `${op.kind}${op.name ? ` ${op.name}` : ''}${decls.length ? `(${decls.join(', ')})` : ''} `;
      const allVars = [...vars, ...op.extraVariables];
      const variables = op.variablesNotObject ?? `{${allVars.map(([n, v]) => `${JSON.stringify(n)}:${toJson(v)}`).join(',')}}`;
      return { query: `${head}{ ${body} }`, variables, operationName: op.name };
    }

    return operationArb.map(render);
  };
  const documentArb = fc.oneof(documentsFor(false), documentsFor(true));

  // ---- raw document mutations and attacks ----

  const INSERTS = ['{', '}', '(', ')', '[', ']', '"', '"""', '$', '@', '...', ':', '!', '=', '#', '\n', '&', '|', ',', '\u0000', '\u202e', '\ud800', '\ufeff'];
  const INSERTS_MORE = [
    'query',
    'mutation',
    'subscription',
    'fragment',
    'on',
    '\\u0000',
    '\\ud800',
    '\\x',
    '1e400',
    '__proto__',
    '{ __typename }',
    '}}}}',
    '{{{{',
  ];
  const editArb = fc.tuple(
    fc.constantFrom('truncate', 'insert', 'delete', 'duplicate', 'swap', 'repeat'),
    fc.double({ min: 0, max: 1, noNaN: true }),
    fc.constantFrom(...INSERTS, ...INSERTS_MORE),
  );
  const mutatedDocumentArb = fc.tuple(documentArb, fc.array(editArb, { minLength: 1, maxLength: 3 })).map(([doc, edits]) => {
    let q = doc.query;
    for (const [edit, at, chunk] of edits) {
      const i = Math.floor(at * q.length);
      if (edit === 'truncate') q = q.slice(0, i);
      else if (edit === 'insert') q = q.slice(0, i) + chunk + q.slice(i);
      else if (edit === 'delete') q = q.slice(0, i) + q.slice(i + 1 + (i % 5));
      else if (edit === 'duplicate') q = q.slice(0, i) + q.slice(i, i + 20).repeat(2) + q.slice(i + 20);
      else if (edit === 'swap') q = q.slice(i) + q.slice(0, i);
      else q = q.slice(0, i) + chunk.repeat(50) + q.slice(i);
    }
    return { ...doc, query: q };
  });

  const range = (n: number) => Array.from({ length: n }, (_, i) => i);
  const fragmentBomb = (levels: number) =>
    `query { ...F${levels} } fragment F0 on Query { __typename me { id } } ${range(levels)
      .map((i) => `fragment F${i + 1} on Query { ...F${i} ...F${i} a${i}: __typename }`)
      .join(' ')}`;
  const ATTACKS: string[] = [
    ...[15, 16, 100, 999, 1500].map(
      (n) =>
        `{ ${range(n)
          .map((i) => `a${i}: __typename`)
          .join(' ')} }`,
    ),
    `{ ${range(15)
      .map(
        (i) =>
          `a${i}: me { licenses { id seats owner { email } } organization { members(first: 100) { edges { node { id account { email } } } } auditLog(first: 100) { edges { node { id details } } } } }`,
      )
      .join(' ')} }`,
    `{ me { organization { members(first: 100) { edges { cursor node { id status isAdmin joinedAt organization { id name licenseType adminContactEmail } account { userId name email } } } pageInfo { hasNextPage endCursor } totalCount } auditLog(first: 100) { edges { cursor node { id action actor { userId name email } targetUserId details createdAt } } totalCount } } } }`,
    ...[11, 12, 13, 50, 600].map((n) => `{ ${'... on Query { '.repeat(n)}__typename${' }'.repeat(n)} }`),
    ...[1000, 3000].map((n) => `${'{'.repeat(n)}${'}'.repeat(n)}`),
    ...[500, 999, 1500, 1985].map((n) => `{ licenseStatus(deviceId: ${'['.repeat(n)}"x"${']'.repeat(n)}) { canUse } }`),
    `{ licenseStatus(deviceId: ${'['.repeat(1990)}`, // nesting right up to the token limit
    ...[300, 900].map((n) => `mutation { acquireSeat(input: ${'{a: '.repeat(n)}1${'}'.repeat(n)}) { errors { code } } }`),
    ...[20, 21, 200].map((n) => `{ __typename ${'@include(if: true) '.repeat(n)}}`),
    '{ __typename @skip(if: $undefined) }',
    '{ __typename @foo(bar: 1) }',
    '{ __typename @deprecated }',
    'query ($a: Boolean = true) { __typename @skip(if: $a) @include(if: $a) }',
    'fragment A on Query { ...B } fragment B on Query { ...A } { ...A }',
    '{ ...Missing }',
    'fragment A on Mutation { __typename } { ...A }',
    ...[5, 10, 20, 30, 60].map(fragmentBomb),
    'query A { __typename } query B { me { id } }',
    'query A { __typename } query A { __typename }',
    '{ __typename } { me { id } }',
    'query { __typename } mutation { logoutZ: __typename }',
    `subscription { seatUsageChanged(organizationId: "${k.orgId}") { total inUse free } }`,
    `subscription { leaseChanged(leaseId: "${k.leaseIds[0]}") { id endReason } }`,
    'subscription { a: waitlistChanged(organizationId: "x") { id } b: waitlistChanged(organizationId: "y") { id } }',
    '{ __schema { types { name fields { name args { name type { name } } } } } }',
    '{ __type(name: "Query") { name fields { name } } }',
    `{ __type(name: "${'Q'.repeat(50_000)}") { name } }`,
    'mutation { __typename }',
    '{ __typename(x: 1) }',
    '{ me { id id: email } }',
    '{ me { a: id a: email } }',
    '',
    ' ',
    '# just a comment',
    '\ufeff{ __typename }',
    '{ __typename }\u0000',
    '{ __typename } }',
    'query',
    '{',
    '}',
    'null',
    '{ m\u00e9 { id } }',
    `{ ${'__typename '.repeat(1997)}}`, // 1,999 tokens
    `{ ${'__typename '.repeat(1998)}}`, // 2,000
    `{ ${'__typename '.repeat(1999)}}`, // 2,001
    `query (${range(999)
      .map((i) => `$v${i}: Int`)
      .join(', ')}) { __typename }`,
    `{ ${'a'.repeat(90_000)} }`,
    `{ licenseStatus(deviceId: "${'d'.repeat(90_000)}") { canUse } }`,
    `{ licenseStatus(deviceId: """${'\u202e'.repeat(20_000)}""") { canUse } }`,
    `{ licenseStatus(deviceId: 1${'0'.repeat(5000)}) { canUse } }`,
    `{ organization(id: ${'9'.repeat(400)}) { id } }`,
    `{ license(id: 1.5e308) { id } }`,
    '{ licenseStatus(deviceId: "\\ud800") { canUse } }',
    '{ licenseStatus(deviceId: "\\u{110000}") { canUse } }',
    '{ licenseStatus(deviceId: "\\uDBFF\\uDFFF") { canUse } }',
    '{ licenseStatus(deviceId: "\u0000") { canUse } }',
    `mutation { ${range(15)
      .map((i) => `a${i}: redeemCode(code: "R-000-000-000-000-000-00${i % 10}") { errors { code } }`)
      .join(' ')} }`,
    `mutation { ${range(16)
      .map((i) => `a${i}: requestPasswordReset(email: "nobody${i}@example.com") { ok }`)
      .join(' ')} }`,
  ];
  const attacks: Rendered[] = ATTACKS.map((query) => ({ query, variables: '{}', operationName: null }));

  return { documentArb, mutatedDocumentArb, attacks, cursorArb, deviceArb, codeArb, tokenArb, passwordArb, emailArb, nastyArb };
}

// ---------------------------------------------------------------------------------------------
// Offline requests (README "File formats, version 1"), valid and broken in every field and layer.

function offlineRequestArb(k: Known): fc.Arbitrary<string> {
  const valid = createOfflineRequest({
    deviceId: 'DESKTOP-7Q2K/disk-0001',
    platform: 'WINDOWS',
    userId: k.owner.account.userId,
    serverUrl: k.base,
    nonce: 'AAECAwQFBgcICQoLDA0ODw',
    now: new Date('2025-03-01T12:00:00.000Z'),
  });
  const absent = Symbol('absent');
  type Field = unknown;
  const field = (good: fc.Arbitrary<Field>, ...bad: Field[]): fc.Arbitrary<Field> =>
    fc.oneof({ weight: 12, arbitrary: good }, { weight: 1, arbitrary: fc.constantFrom<Field>(...bad, absent) });
  const deviceIds = fc.oneof(
    hexString({ minLength: 1, maxLength: 12 }).map((h) => `offline-${h}`),
    fc.constantFrom('d'.repeat(256), '\u{1F600}'.repeat(128), 'dev\u0000ice', 'dev\u202eice', '\u3000x'),
  );
  const payloadObject = fc.record({
    v: field(fc.constant(1), 2, 0, '1', null, -1, 1e308, 1.5, [1]),
    type: field(fc.constant('tessera-offline-request'), 'tessera-offline-response', '', null, 123, 'TESSERA-OFFLINE-REQUEST'),
    deviceId: field(deviceIds, '', ' ', 'd'.repeat(257), null, 42, ['x'], { a: 1 }, '\ud800', HUGE.k60),
    platform: field(fc.constantFrom('WINDOWS', 'MAC'), 'CLOUD', 'windows', '', null, 1),
    userId: field(
      fc.constantFrom(k.owner.account.userId, k.owner.account.userId, k.member.account.userId),
      k.owner.account.userId.toLowerCase(),
      ` ${k.owner.account.userId}`,
      'A-000-000',
      'A-XXX-XXX',
      '',
      null,
    ),
    nonce: field(
      fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => Buffer.from(b).toString('base64url')),
      'AAECAwQFBgcICQoLDA0OD',
      'AAECAwQFBgcICQoLDA0ODwA',
      'AAECAwQFBgcICQoLDA0ODw==',
      'AAECAwQFBgc+/QoLDA0ODw',
      'AAECAwQFBgcICQoLDA0ODx',
      '',
      null,
      16,
    ),
    createdAt: field(
      fc.constant('2025-03-01T12:00:00.000Z'),
      '2024-02-30T00:00:00.000Z',
      '0000-01-01T00:00:00.000Z',
      '9999-12-31T23:59:59.999999999Z',
      '2025-03-01T12:00:00.000+01:00',
      '2025-03-01T12:00:60.000Z',
      '',
      null,
      0,
    ),
    extra: fc.oneof(
      { weight: 8, arbitrary: fc.constant<Array<[string, unknown]>>([]) },
      {
        weight: 1,
        arbitrary: fc.constant<Array<[string, unknown]>>([
          ['__proto__', { v: 1 }],
          ['constructor', 1],
        ]),
      },
      { weight: 1, arbitrary: fc.constant<Array<[string, unknown]>>([['x', 'y'.repeat(1000)]]) },
    ),
  });
  const jsonText = payloadObject.map((o) => {
    const entries = Object.entries<unknown>(o).filter(([key, v]) => key !== 'extra' && v !== absent);
    return `{${[...entries, ...o.extra].map(([key, v]) => `${JSON.stringify(key)}:${JSON.stringify(v)}`).join(',')}}`;
  });
  const b64url = (s: string | Buffer) => Buffer.from(s).toString('base64url');
  const payload = fc.oneof(
    { weight: 8, arbitrary: jsonText.map((j) => b64url(j)) },
    {
      weight: 2,
      arbitrary: fc
        .constantFrom(
          '[]',
          'null',
          '1',
          '"x"',
          '{}',
          '{"v":1}',
          '{',
          `${'['.repeat(5000)}${']'.repeat(5000)}`,
          `{"v":1,"type":"tessera-offline-request","deviceId":"\\ud800"}`,
        )
        .map(b64url),
    },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 100 }).map((b) => b64url(Buffer.from(b))) },
    { weight: 1, arbitrary: fc.constant(b64url(Buffer.from([0xff, 0xfe, 0xfd, 0x7b, 0x7d]))) },
  );
  const wrap = fc.constantFrom(
    'bare',
    'bare',
    'bare',
    'base64',
    'padded',
    'truncated',
    'flipped',
    'spaced',
    'percent',
    'url',
    'url2',
    'relative',
    'query',
    'html',
    'htmlConflict',
    'htmlEntities',
    'bom',
    'huge',
  );
  return fc.tuple(payload, wrap, fc.nat(1000)).map(([p, how, n]) => {
    switch (how) {
      case 'base64':
        return Buffer.from(p, 'base64url').toString('base64');
      case 'padded':
        return `${p}==`;
      case 'truncated':
        return p.slice(0, Math.max(1, p.length - 1 - (n % 7)));
      case 'flipped': {
        const i = n % p.length;
        return p.slice(0, i) + (p[i] === 'A' ? 'B' : 'A') + p.slice(i + 1);
      }
      case 'spaced':
        return p.replace(/(.{10})/g, '$1 \n');
      case 'percent':
        return encodeURIComponent(p).replace(/A/g, '%41');
      case 'url':
        return `${k.base}/offline?request=${p}`;
      case 'url2':
        return `${k.base}/offline?request=${p}&request=${valid.payload}`;
      case 'relative':
        return `/offline?request=${p}`;
      case 'query':
        return `?request=${encodeURIComponent(p)}%ZZ`;
      case 'html':
        return valid.html.split(valid.payload).join(p);
      case 'htmlConflict':
        return `${valid.html}<a href="${k.base}/offline?request=${p}">x</a>`;
      case 'htmlEntities':
        return `<html><a href="/offline?request=${p}&#x110000;&#xD800;&#0;&#99999999999;&amp;request=&#x41;">x</a></html>`;
      case 'bom':
        return `\ufeff ${p} \n`;
      case 'huge':
        return `${p}${'A'.repeat(60_000)}`;
      default:
        return p;
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Requests, answers and what is wrong with an answer.

type Role = 'anonymous' | 'owner' | 'member' | 'unverified' | 'shop' | 'bogus';

interface Case {
  group: 'graphql' | 'raw-document' | 'http' | 'offline' | 'page' | 'socket';
  role: Role;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string | Buffer;
  /** For the socket group: the raw bytes written to the connection. */
  raw?: string;
}

interface Answer {
  status: number;
  text: string;
  reqId: string | null;
  failure?: string;
  ms?: number;
}

const ROLES: Role[] = ['owner', 'anonymous', 'shop', 'member', 'unverified', 'bogus'];
const roleArb = fc.oneof(
  { weight: 2, arbitrary: fc.constant<Role>('anonymous') },
  { weight: 4, arbitrary: fc.constant<Role>('owner') },
  { weight: 2, arbitrary: fc.constant<Role>('member') },
  { weight: 1, arbitrary: fc.constant<Role>('unverified') },
  { weight: 2, arbitrary: fc.constant<Role>('shop') },
  { weight: 1, arbitrary: fc.constant<Role>('bogus') },
);

const BOGUS_AUTHORIZATION = [
  'Bearer',
  'Bearer ',
  'Bearer  ',
  'bearer x',
  'Basic dXNlcjpwYXNz',
  'Bearer a b',
  `Bearer ${'t'.repeat(8000)}`,
  `Bearer ${SHOP_TOKEN} `,
  `Bearer ${SHOP_TOKEN}x`,
  `Bearer ${SHOP_TOKEN.slice(0, -1)}`,
  `Bearer ${SHOP_TOKEN.toUpperCase()}`,
  'Bearer \u00e9\u00ff',
  'Bearer null',
  'Bearer undefined',
  "Bearer ' OR 1=1 --",
  'Bearer %00',
  'Token abc',
];
const ACCEPT = [
  'application/graphql-response+json',
  'application/json',
  '*/*',
  'text/html',
  'application/xml',
  'multipart/mixed',
  'multipart/mixed; subscriptionSpec="1.0"',
];
const LANGUAGES = ['de', 'es-ES,es;q=0.9', 'xx', '*', 'de;q=abc', 'en-US,en;q=0.9,'.repeat(200), '\u00e9'];

const headerExtrasArb = fc.record({
  // Mostly what clients send (an Accept other than JSON is refused with 406 before anything runs).
  accept: fc.oneof(
    { weight: 12, arbitrary: fc.constant(undefined) },
    { weight: 3, arbitrary: fc.constantFrom(ACCEPT[0], ACCEPT[1], ACCEPT[2]) },
    { weight: 1, arbitrary: fc.constantFrom(...ACCEPT) },
  ),
  'accept-language': fc.option(fc.constantFrom(...LANGUAGES), { freq: 6, nil: undefined }),
  authorization: fc.constantFrom(...BOGUS_AUTHORIZATION),
  'x-forwarded-for': fc.oneof(
    fc.ipV4(),
    fc.ipV6(),
    fc.constantFrom('unknown', '', 'x'.repeat(2000), '1.1.1.1, 2.2.2.2, , ,', '::ffff:127.0.0.1', '999.999.999.999'),
  ),
});

function graphqlBody(doc: Rendered): string {
  return `{"query":${JSON.stringify(doc.query)},"variables":${doc.variables}${doc.operationName ? `,"operationName":${JSON.stringify(doc.operationName)}` : ''}}`;
}

function graphqlCase(group: Case['group'], role: Role, extras: Record<string, string | undefined>, body: string): Case {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  for (const [name, value] of Object.entries(extras)) if (value !== undefined && (name !== 'authorization' || role === 'bogus')) headers[name] = value;
  return { group, role, method: 'POST', path: '/graphql', headers, body };
}

/** Malformed HTTP to /graphql: bodies, content types, encodings, methods. */
/** Each listed malformation once (`fixed`, in each role in turn), and random draws of them with random roles and Accept headers. */
function httpCases(k: Known): { fixed: Case[]; arb: fc.Arbitrary<Case> } {
  const good = graphqlBody({ query: '{ me { id } licenseStatus(deviceId: "d") { canUse } }', variables: '{}', operationName: null });
  const mutationGet = encodeURIComponent('mutation { requestTrial { errors { code } } }');
  const bodies: Array<[string, string | Buffer]> = [
    ['application/json', ''],
    ['application/json', '{'],
    ['application/json', good.slice(0, 20)],
    ['application/json', 'nul'],
    ['application/json', 'null'],
    ['application/json', 'true'],
    ['application/json', '123'],
    ['application/json', '"{ me { id } }"'],
    ['application/json', '[]'],
    ['application/json', `[${good},${good}]`],
    ['application/json', `[${good}]`],
    ['application/json', `${good}${good}`],
    ['application/json', `${good} trailing`],
    ['application/json', `\ufeff${good}`],
    ['application/json', '{"query": 123}'],
    ['application/json', '{"query": null}'],
    ['application/json', '{"query": ["{ me { id } }"]}'],
    ['application/json', '{"query": {"kind": "Document", "definitions": []}}'],
    ['application/json', '{"query": "{ __typename }", "variables": "{\\"a\\":1}"}'],
    ['application/json', '{"query": "{ __typename }", "variables": []}'],
    ['application/json', '{"query": "{ __typename }", "variables": 5}'],
    ['application/json', '{"query": "{ __typename }", "operationName": 5}'],
    ['application/json', '{"query": "{ __typename }", "operationName": "Nope"}'],
    ['application/json', '{"query": "{ __typename }", "extensions": "x"}'],
    ['application/json', '{"query": "{ __typename }", "extensions": {"persistedQuery": {"version": 1, "sha256Hash": "abc"}}}'],
    [
      'application/json',
      '{"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "0000000000000000000000000000000000000000000000000000000000000000"}}}',
    ],
    ['application/json', '{"extensions": {"persistedQuery": {"version": 2, "sha256Hash": 5}}}'],
    ['application/json', '{"query": "{ __typename }", "query": "{ me { id } }"}'],
    ['application/json', '{"__proto__": {"query": "{ __typename }"}}'],
    ['application/json', '{"query": "{ __typename }", "constructor": {"prototype": {"x": 1}}}'],
    ['application/json', '{"query": "\\ud800"}'],
    ['application/json', '{"query": "{ __typename }\\u0000"}'],
    ['application/json', `{"query": "{ __typename }", "variables": ${'['.repeat(40_000)}${']'.repeat(40_000)}}`],
    ['application/json', `{"query": "{ __typename }", "variables": {"a": ${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}}}`],
    ['application/json', `{"query": "{ __typename }", "x": "${HUGE.k200}"}`],
    ['application/json', Buffer.from([0x7b, 0x22, 0x71, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d])],
    ['application/json', Buffer.from([0xef, 0xbb, 0xbf, ...Buffer.from(good)])],
    ['application/json; charset=utf-16', good],
    ['application/json; charset=latin1', good],
    ['application/json; charset=utf-8; charset=ascii', good],
    ['application/json;;;', good],
    ['APPLICATION/JSON', good],
    ['application/graphql-response+json', good],
    ['application/graphql', '{ me { id } }'],
    ['text/plain', good],
    ['text/plain;charset=utf-8', good],
    ['application/x-www-form-urlencoded', `query=${encodeURIComponent('{ __typename }')}`],
    ['multipart/form-data; boundary=x', `--x\r\nContent-Disposition: form-data; name="operations"\r\n\r\n${good}\r\n--x--\r\n`],
    ['application/xml', '<query/>'],
    ['', good],
    [`application/json; x=${'y'.repeat(5000)}`, good],
  ];
  const postOf = ([type, body]: [string, string | Buffer]): Omit<Case, 'role'> => ({
    group: 'http',
    method: 'POST',
    path: '/graphql',
    headers: type ? { 'content-type': type } : {},
    body,
  });
  const post = fc.constantFrom(...bodies).map(postOf);
  const encodings: Array<[string, string | Buffer]> = [
    ['gzip', zlib.gzipSync(good)],
    ['gzip', Buffer.from('not gzip at all')],
    ['gzip', zlib.gzipSync(good).subarray(0, 20)],
    ['deflate', zlib.deflateSync(good)],
    ['deflate', Buffer.from([0x78, 0x9c, 0xff, 0xff])],
    ['br', Buffer.from('x')],
    ['identity', good],
    ['gzip, gzip', zlib.gzipSync(zlib.gzipSync(good))],
    ['compress', good],
    ['gzip', zlib.gzipSync(`{"query":"{ __typename }","x":"${'a'.repeat(5_000_000)}"}`)], // inflates past the limit
  ];
  const encodedOf = ([encoding, body]: [string, string | Buffer]): Omit<Case, 'role'> => ({
    group: 'http',
    method: 'POST',
    path: '/graphql',
    headers: { 'content-type': 'application/json', 'content-encoding': encoding },
    body,
  });
  const encoded = fc.constantFrom(...encodings).map(encodedOf);
  const getPaths = [
    `/graphql?query=${encodeURIComponent('{ __typename }')}`,
    `/graphql?query=${mutationGet}`,
    `/graphql?query=${encodeURIComponent('{ me { id } }')}&variables=%7B`,
    `/graphql?query=${encodeURIComponent('{ __typename }')}&variables=${encodeURIComponent('{"a":1}')}&extensions=x`,
    `/graphql?query=${encodeURIComponent('{ __typename }')}&query=${encodeURIComponent('{ me { id } }')}`,
    '/graphql?query=%E0%A4%A',
    '/graphql?query=%ZZ',
    '/graphql?query[]=1&query[x]=2',
    `/graphql?query=${'a'.repeat(60_000)}`,
    `/graphql?extensions=${encodeURIComponent('{"persistedQuery":{"version":1,"sha256Hash":"abc"}}')}`,
    '/graphql',
    '/graphql/',
    '/GRAPHQL',
    '/graphql;x=1',
    '/graphql%00',
    '//graphql',
    '/graphql/../graphql',
    `/graphql?${'&'.repeat(5000)}`,
  ];
  const gets = fc
    .constantFrom(...getPaths)
    .chain((p) =>
      fc
        .constantFrom<Record<string, string>>(
          {},
          { 'apollo-require-preflight': 'true' },
          { 'x-apollo-operation-name': 'x', 'content-type': 'application/json' },
        )
        .map((headers): Omit<Case, 'role'> => ({ group: 'http', method: 'GET', path: p, headers })),
    );
  const methods = fc
    .tuple(fc.constantFrom('PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'PROPFIND'), fc.constantFrom('/graphql', '/readyz', '/metrics', '/offline', '/join/x'))
    .map(([method, p]): Omit<Case, 'role'> => ({
      group: 'http',
      method,
      path: p,
      headers: { 'content-type': 'application/json' },
      body: method === 'HEAD' ? undefined : good,
    }));
  const others = fc
    .constantFrom(
      '/healthz',
      '/readyz',
      '/metrics',
      '/.well-known/offline-signing-key',
      '/.well-known/../../package.json',
      '/%2e%2e/%2e%2e/etc/passwd',
      '/nope',
      `/${'a'.repeat(8000)}`,
      '/join',
      '/join/',
      `/join/${encodeURIComponent(k.inviteCode)}`,
    )
    .map((p): Omit<Case, 'role'> => ({ group: 'http', method: 'GET', path: p, headers: {} }));
  const fixed = [
    ...bodies.map(postOf),
    ...encodings.map(encodedOf),
    ...getPaths.map((p): Omit<Case, 'role'> => ({ group: 'http', method: 'GET', path: p, headers: { 'apollo-require-preflight': 'true' } })),
  ].map((c, i): Case => ({ ...c, role: ROLES[i % ROLES.length] }));
  const arb = fc
    .tuple(
      fc.oneof(
        { weight: 6, arbitrary: post },
        { weight: 2, arbitrary: encoded },
        { weight: 2, arbitrary: gets },
        { weight: 1, arbitrary: methods },
        { weight: 1, arbitrary: others },
      ),
      roleArb,
      fc.option(fc.constantFrom(...ACCEPT), { freq: 3, nil: undefined }),
    )
    .map(([c, role, accept]): Case => ({ ...c, role, headers: accept ? { ...c.headers, accept } : c.headers }));
  return { fixed, arb };
}

/** encodeURIComponent, with lone surrogates (which it refuses) written as the raw bytes a careless client would send. */
function encodePath(s: string): string {
  return s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]|[^\ud800-\udfff]+|[\ud800-\udbff][\udc00-\udfff]/g, (part) =>
    /^[\ud800-\udfff]$/.test(part) ? '%ED%A0%80' : encodeURIComponent(part),
  );
}

/** The pages that emailed links and offline request files lead to. */
function pageCaseArb(k: Known, arbs: ReturnType<typeof arbitrariesFor>): fc.Arbitrary<Case> {
  const offline = offlineRequestArb(k);
  const form = (fields: Record<string, string>) =>
    Object.entries(fields)
      .map(([n, v]) => `${encodePath(n)}=${encodePath(v)}`)
      .join('&');
  const formHeaders = { 'content-type': 'application/x-www-form-urlencoded' };
  const creds = fc.oneof(
    { weight: 3, arbitrary: fc.constant({ email: k.burner.email, password: PASSWORD }) },
    { weight: 1, arbitrary: fc.constant({ email: k.unverified.email, password: PASSWORD }) },
    { weight: 1, arbitrary: fc.constant({ email: k.member.email, password: PASSWORD }) },
    { weight: 2, arbitrary: fc.record({ email: arbs.emailArb, password: arbs.passwordArb }) },
  );
  return fc.oneof(
    offline.map((r): Case => ({ group: 'page', role: 'anonymous', method: 'GET', path: `/offline?request=${encodePath(r)}`, headers: {} })),
    arbs.tokenArb.map((tk): Case => ({ group: 'page', role: 'anonymous', method: 'GET', path: `/verify-email?token=${encodePath(tk)}`, headers: {} })),
    arbs.tokenArb.map((tk): Case => ({ group: 'page', role: 'anonymous', method: 'GET', path: `/reset-password?token=${encodePath(tk)}`, headers: {} })),
    arbs.codeArb.map((c): Case => ({ group: 'page', role: 'anonymous', method: 'GET', path: `/join/${encodePath(c)}`, headers: {} })),
    fc
      .tuple(offline, creds)
      .map(([r, c]): Case => ({ group: 'page', role: 'anonymous', method: 'POST', path: '/offline', headers: formHeaders, body: form({ request: r, ...c }) })),
    fc
      .tuple(arbs.codeArb, creds)
      .map(([code, c]): Case => ({ group: 'page', role: 'anonymous', method: 'POST', path: `/join/${encodePath(code)}`, headers: formHeaders, body: form(c) })),
    arbs.tokenArb.map((tk): Case => ({
      group: 'page',
      role: 'anonymous',
      method: 'POST',
      path: '/verify-email',
      headers: formHeaders,
      body: form({ token: tk }),
    })),
    fc.tuple(arbs.tokenArb, arbs.passwordArb).map(([tk, pw]): Case => ({
      group: 'page',
      role: 'anonymous',
      method: 'POST',
      path: '/reset-password',
      headers: formHeaders,
      body: form({ token: tk, newPassword: pw }),
    })),
    fc
      .constantFrom('request=%ZZ', 'request[a]=1&request[b]=2', 'token=a&token=b', '%', `request=${'a'.repeat(9000)}`, '\u0000=\u0000')
      .chain((body) =>
        fc
          .constantFrom('/offline', '/verify-email', '/reset-password', `/join/${encodeURIComponent(k.inviteCode)}`)
          .map((p): Case => ({ group: 'page', role: 'anonymous', method: 'POST', path: p, headers: formHeaders, body })),
      ),
    fc.constantFrom('/offline', '/verify-email', '/reset-password').map((p): Case => ({
      group: 'page',
      role: 'anonymous',
      method: 'POST',
      path: p,
      headers: { 'content-type': 'application/json' },
      body: '{"token":["x"],"request":{"a":1}}',
    })),
  );
}

/** Raw bytes on a connection: what the HTTP parser and the body reader see before express does. */
const SOCKET_REQUESTS: string[] = [
  'GARBAGE\r\n\r\n',
  'GET\r\n\r\n',
  'POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"query":',
  'POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 999999999\r\n\r\n{}',
  'POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: -1\r\n\r\n{}',
  'POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}',
  'POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n2\r\n{}\r\n0\r\n\r\n',
  'POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n{}\r\n0\r\n\r\n',
  'POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"que\r\n',
  'POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n',
  'POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: 4\r\n\r\n\x1f\x8b\x08\x00',
  `GET /graphql?query=%7B__typename%7D HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
  'GET /graphql HTTP/1.1\r\nHost: x\r\nNoColonHeader\r\n\r\n',
  'GET /graphql HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n',
  'GET /graphql HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n',
  'GET /graphql HTTP/9.9\r\nHost: x\r\n\r\n',
  'GET /graphql HTTP/1.0\r\n\r\n',
  'GET http://evil.example/graphql HTTP/1.1\r\nHost: x\r\n\r\n',
  'GET * HTTP/1.1\r\nHost: x\r\n\r\n',
  'TRACE /graphql HTTP/1.1\r\nHost: x\r\n\r\n',
  'PROPFIND /offline HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}',
  'CONNECT 127.0.0.1:1 HTTP/1.1\r\nHost: x\r\n\r\n',
  'GET /readyz HTTP/1.1\r\nHost: x\r\n\r\nGET /readyz HTTP/1.1\r\nHost: x\r\n\r\nGARBAGE\r\n\r\n',
  'POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: 26\r\n\r\n{"query":"{ __typename }"}',
  'POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer \xff\xfe\r\nContent-Length: 26\r\n\r\n{"query":"{ __typename }"}',
  'POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Request-Id: \xff\r\nAccept-Language: \xe9\xff\r\nX-Forwarded-For: \xff\r\nContent-Length: 26\r\n\r\n{"query":"{ __typename }"}',
  'GET /graphql HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: bad\r\n\r\n',
  'GET /graphql HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n\x81\x05hello\x88\x00',
  'GET /join/%ff%fe HTTP/1.1\r\nHost: x\r\n\r\n',
  'GET /offline?request=%ff%fe HTTP/1.1\r\nHost: x\r\n\r\n',
  'GET /verify-email?token=%00 HTTP/1.1\r\nHost: x\r\n\r\n',
];

/** A client-to-server WebSocket frame (masked with a zero key, so the payload stays as it is). */
function wsFrame(opcode: number, payload: Buffer, declaredLength = payload.length): Buffer {
  const head =
    declaredLength < 126
      ? Buffer.from([0x80 | opcode, 0x80 | declaredLength])
      : declaredLength < 65536
        ? Buffer.from([0x80 | opcode, 0x80 | 126, declaredLength >> 8, declaredLength & 0xff])
        : Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | 127]), Buffer.from(BigInt(declaredLength).toString(16).padStart(16, '0'), 'hex')]);
  return Buffer.concat([head, Buffer.alloc(4), payload]);
}
const WS_UPGRADE =
  'GET /graphql HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n';
const WS_INIT = wsFrame(1, Buffer.from('{"type":"connection_init"}'));
SOCKET_REQUESTS.push(
  ...[
    Buffer.concat([WS_INIT, wsFrame(1, Buffer.from('{"id":"1","type":"subscribe","payload":{"query":"{ __typename }"}}'))]),
    Buffer.concat([WS_INIT, wsFrame(1, Buffer.from('not json'))]),
    Buffer.concat([WS_INIT, wsFrame(1, Buffer.from([0x7b, 0xff, 0xfe, 0x7d]))]), // not UTF-8
    Buffer.concat([WS_INIT, wsFrame(1, Buffer.alloc(16), 200_000)]), // longer than the server takes
    Buffer.concat([WS_INIT, wsFrame(0x3, Buffer.from('x'))]), // a reserved opcode
    Buffer.concat([WS_INIT, wsFrame(8, Buffer.from([0x03, 0xe7]))]), // close with an invalid code
  ].map((frames) => WS_UPGRADE + frames.toString('latin1')),
);

/** Texts that must never reach a client: stack frames, driver and ORM messages, source paths, runtime errors. */
const LEAKS: Array<[string, RegExp]> = [
  ['a stack frame', /(?:^|\n|\\n)\s*at (?:async )?\S[^\n]*?(?:\.[jt]s|node:[\w/]+|<anonymous>):\d+(?::\d+)?\)?/],
  ['a stack frame', /(?:\n|\\n) {4}at /],
  ['a stack trace', /"stacktrace"/],
  ['an ORM error', /QueryFailedError|TypeORMError|EntityNotFound|EntityMetadataNotFound|EntityPropertyNotFound|QueryRunner/],
  [
    'a PostgreSQL message',
    /violates|syntax error at or near|invalid input syntax|invalid input value for enum|duplicate key value|out of range for type|value out of range|value too long for type|date\/time field value|null value in column|current transaction is aborted|deadlock detected|canceling statement|could not serialize|relation "[^"]+" does not exist|column "[^"]+" (?:of relation|does not exist)|invalid byte sequence|unsupported Unicode escape|SQLSTATE/i,
  ],
  ['a driver message', /ECONNREFUSED|ECONNRESET|Connection terminated|timeout exceeded when trying to connect|pg-pool|node-postgres/],
  ['a source path', /node_modules|\/work\/|\/src\/[\w/.-]+\.ts|\.ts:\d+:\d+|file:\/\//],
  [
    'a runtime error',
    /(?<!Syntax )\b(?:[A-Z][A-Za-z]*)?Error: |Cannot read propert(?:y|ies) of|is not a function|is not iterable|undefined is not|Maximum call stack|Unexpected token .* in JSON/,
  ],
];

function compact(s: string, max = 1500): string {
  const collapsed = s.replace(/(.)\1{31,}/gsu, (run: string, c: string) => `${c}<×${[...run].length}>`);
  return collapsed.length > max ? `${collapsed.slice(0, max)}…(${collapsed.length} chars)` : collapsed;
}

/** Everything wrong with one answer. */
function problemsOf(c: Case, a: Answer): string[] {
  if (a.failure) return [a.failure];
  const problems: string[] = [];
  if (a.status >= 500) problems.push(`HTTP ${a.status}`);
  const sent = `${c.path}\n${c.raw ?? ''}\n${Object.values(c.headers).join('\n')}\n${c.body === undefined ? '' : c.body.toString()}`;
  let decoded = '';
  let json: any;
  try {
    json = JSON.parse(a.text);
  } catch {
    /* not JSON: pages, metrics */
  }
  if (json && typeof json === 'object') {
    const strings: string[] = [];
    const walk = (v: unknown) => {
      if (typeof v === 'string') strings.push(v);
      else if (v && typeof v === 'object') Object.values(v).forEach(walk);
    };
    walk(json);
    decoded = strings.join('\n');
    const errors = Array.isArray(json.errors) ? (json.errors as Array<{ message?: string; extensions?: Record<string, unknown> }>) : [];
    for (const e of errors) {
      if (e?.extensions?.code === 'INTERNAL_SERVER_ERROR') problems.push(`INTERNAL_SERVER_ERROR: ${compact(String(e.message), 200)}`);
      if (e?.extensions && 'stacktrace' in e.extensions) problems.push('extensions.stacktrace in an error');
    }
  }
  for (const [what, pattern] of LEAKS) {
    for (const text of [decoded, a.text]) {
      const m = pattern.exec(text);
      if (m && !sent.includes(m[0])) {
        problems.push(`${what} (${compact(m[0].trim(), 60)}): ${JSON.stringify(compact(text.slice(Math.max(0, m.index - 80), m.index + 160), 300))}`);
        break;
      }
    }
  }
  return [...new Set(problems)];
}

function describeCase(c: Case, index: number): string {
  const headers = Object.entries(c.headers)
    .map(([n, v]) => `${n}: ${compact(v, 200)}`)
    .join('; ');
  const body =
    c.raw ??
    (c.body === undefined
      ? ''
      : Buffer.isBuffer(c.body)
        ? `<${c.body.length} bytes> ${JSON.stringify(compact(c.body.toString('latin1'), 400))}`
        : compact(c.body));
  return `#${index} [${c.group}] role=${c.role} ${c.method} ${compact(c.path, 300)}${headers ? `\n    headers: ${headers}` : ''}${body ? `\n    body: ${body}` : ''}`;
}

// ---------------------------------------------------------------------------------------------

const logLines: string[] = [];
let t: TestServer;
let known: Known;

beforeAll(async () => {
  t = await startTestServer({ NODE_ENV: 'production', TEST_CLOCK: '0', LOG_LEVEL: 'warn' }, { logLines });
  const { owner, organization, license } = await newOrganization(t, { seats: 15 });
  const member = await newAccount(t, { name: 'Member' });
  const unverified = await newAccount(t, { verified: false, name: 'Unverified' });
  const burner = await newAccount(t, { name: 'Burner' });
  const joined = await join(t, member.token, organization.inviteCode);
  const spare = await issueLicense(t, { type: 'COMMERCIAL', seats: 3 });
  const ownerLease = await acquire(t, owner.token, 'owner-device-1');
  const memberLease = await acquire(t, member.token, 'member-device-1', { organizationId: organization.id });
  const pages = await t.gql(
    `query($id: ID!, $l: ID!) { organization(id: $id) { members(first: 1) { pageInfo { endCursor } } auditLog(first: 1) { pageInfo { endCursor } } } license(id: $l) { licenseId } }`,
    { id: organization.id, l: license.id },
    { token: owner.token },
  );
  if (!joined.membership || !ownerLease.lease || !memberLease.lease || !pages.data?.organization) {
    throw new Error(`fuzz setup failed: ${JSON.stringify({ joined, ownerLease, memberLease, pages })}`);
  }
  known = {
    base: t.base,
    owner,
    member,
    unverified,
    burner,
    orgId: organization.id,
    membershipId: joined.membership.id,
    inviteCode: organization.inviteCode,
    inviteUrl: organization.inviteUrl,
    licenseId: license.id,
    licensePublicId: pages.data.license.licenseId,
    licenseKey: license.key,
    spareKey: spare.key,
    leaseIds: [ownerLease.lease.id, memberLease.lease.id],
    memberCursor: pages.data.organization.members.pageInfo.endCursor,
    auditCursor: pages.data.organization.auditLog.pageInfo.endCursor ?? 'WyIxIl0',
  };
}, 60_000);

afterAll(async () => {
  await t?.stop();
});

function tokenFor(role: Role): string | undefined {
  switch (role) {
    case 'owner':
      return known.owner.token;
    case 'member':
      return known.member.token;
    case 'unverified':
      return known.unverified.token;
    case 'shop':
      return SHOP_TOKEN;
    default:
      return undefined;
  }
}

/** Logging out (or everywhere) would end the fuzzing accounts' sessions: those documents go anonymously (the burner phase covers them logged in). */
const LOGS_OUT = /\blogout(?:Everywhere)?\s*[{@]/;

async function send(c: Case, index: number): Promise<Answer> {
  const started = performance.now();
  const answer = await sendOnce(c, index);
  return { ...answer, ms: performance.now() - started };
}

async function sendOnce(c: Case, index: number): Promise<Answer> {
  if (c.raw !== undefined) return sendRaw(c.raw);
  const headers: Record<string, string> = { 'x-forwarded-for': `198.51.100.${index % 250}`, 'x-request-id': `fuzz-${index}`, ...c.headers };
  const bodyText = c.body === undefined ? '' : c.body.toString();
  const role = c.role !== 'anonymous' && c.role !== 'bogus' && LOGS_OUT.test(bodyText) ? 'anonymous' : c.role;
  const token = tokenFor(role);
  if (token) headers.authorization = `Bearer ${token}`;
  try {
    const res = await fetch(`${t.base}${c.path}`, {
      method: c.method,
      headers,
      body: c.body,
      redirect: 'manual',
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    return { status: res.status, text: await res.text(), reqId: res.headers.get('x-request-id') };
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    return { status: 0, text: '', reqId: null, failure: `no answer: ${e.name}: ${e.cause?.code ?? ''} ${e.cause?.message ?? e.message}` };
  }
}

/** Writes raw bytes and reads until the server closes or a short while passes; only the status line matters. */
function sendRaw(raw: string): Promise<Answer> {
  return new Promise((resolve) => {
    const socket = net.connect(t.server.port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const done = () => {
      socket.destroy();
      const text = Buffer.concat(chunks).toString('latin1');
      const statuses = [...text.matchAll(/HTTP\/1\.[01] (\d{3})/g)].map((m) => Number(m[1]));
      resolve({
        status: statuses.find((s) => s >= 500) ?? statuses[0] ?? 0,
        text: text.split('\r\n\r\n').slice(1).join('\n'),
        reqId: /x-request-id: (\S+)/i.exec(text)?.[1] ?? null,
      });
    };
    const timer = setTimeout(done, 1500);
    socket.on('data', (d) => chunks.push(d));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      done();
    });
    // Half-closed after the bytes: the server answers what it has read and then closes.
    socket.end(Buffer.from(raw, 'latin1'));
  });
}

test('the judge catches what it is meant to catch, and lets echoed input and GraphQL syntax errors pass', () => {
  const c: Case = {
    group: 'graphql',
    role: 'anonymous',
    method: 'POST',
    path: '/graphql',
    headers: {},
    body: '{"query":"{ licenseStatus(deviceId: \\"violates\\") }"}',
  };
  const judge = (status: number, body: unknown) => problemsOf(c, { status, text: typeof body === 'string' ? body : JSON.stringify(body), reqId: null });
  expect(judge(200, { data: { __typename: 'Query' } })).toEqual([]);
  expect(judge(400, { errors: [{ message: 'Syntax Error: Expected Name, found <EOF>.', extensions: { code: 'GRAPHQL_PARSE_FAILED' } }] })).toEqual([]);
  expect(judge(400, { errors: [{ message: 'String cannot represent a non string value: "violates"', extensions: { code: 'BAD_USER_INPUT' } }] })).toEqual([]);
  expect(judge(503, {})).toEqual(['HTTP 503']);
  const leaked = judge(500, {
    errors: [
      {
        message: 'invalid input syntax for type uuid: "x"',
        extensions: {
          code: 'INTERNAL_SERVER_ERROR',
          stacktrace: ['QueryFailedError: x', '    at PostgresQueryRunner.query (/work/main/node_modules/typeorm/driver/postgres/PostgresQueryRunner.js:1:2)'],
        },
      },
    ],
  });
  for (const expected of [
    'HTTP 500',
    'INTERNAL_SERVER_ERROR',
    'extensions.stacktrace',
    'a stack frame',
    'an ORM error',
    'a PostgreSQL message',
    'a source path',
    'a runtime error',
  ]) {
    expect(leaked.join('\n')).toContain(expected);
  }
  expect(judge(500, '<pre>TypeError: Cannot read properties of undefined<br> &nbsp; &nbsp;at x (/work/main/src/server.ts:1:2)</pre>').length).toBeGreaterThan(
    1,
  );
});

test('thousands of generated and mutated requests: no 5xx, no leaked internals, no error logs, and the server still answers', async () => {
  const started = Date.now();
  const schema = loadSdl();
  const arbs = arbitrariesFor(schema, known);
  const sample = <T>(arb: fc.Arbitrary<T>, n: number, salt: number): T[] => (n > 0 ? fc.sample(arb, { seed: SEED + salt, numRuns: n }) : []);

  const graphqlCases = sample(fc.tuple(arbs.documentArb, roleArb, headerExtrasArb), COUNTS.graphql, 1).map(([doc, role, extras]) =>
    graphqlCase('graphql', role, extras, graphqlBody(doc)),
  );
  // Every hand-made attack once (in each role in turn), and generated documents mutated.
  const rawCases = [
    ...arbs.attacks.map((doc, i) =>
      graphqlCase('raw-document', ROLES[i % ROLES.length], { authorization: BOGUS_AUTHORIZATION[i % BOGUS_AUTHORIZATION.length] }, graphqlBody(doc)),
    ),
    ...sample(fc.tuple(arbs.mutatedDocumentArb, roleArb, headerExtrasArb), Math.max(0, COUNTS.rawDocument - arbs.attacks.length), 2).map(
      ([doc, role, extras]) => graphqlCase('raw-document', role, extras, graphqlBody(doc)),
    ),
  ];
  const offlineRole = fc.oneof(
    { weight: 6, arbitrary: fc.constant<Role>('owner') },
    { weight: 1, arbitrary: fc.constant<Role>('member') },
    { weight: 1, arbitrary: fc.constant<Role>('unverified') },
    { weight: 1, arbitrary: fc.constant<Role>('anonymous') },
    { weight: 1, arbitrary: fc.constant<Role>('shop') },
  );
  const offlineCases = sample(fc.tuple(offlineRequestArb(known), offlineRole, fc.nat(9)), COUNTS.offline, 3).map(([request, role, how]) => {
    const selection = '{ responseFile lease { id kind platform endedAt } errors { code reason field message } }';
    const doc =
      how < 7
        ? {
            query: `mutation($r: String!) { validateOfflineRequest(request: $r) ${selection} }`,
            variables: JSON.stringify({ r: request }),
            operationName: null,
          }
        : { query: `mutation { validateOfflineRequest(request: ${JSON.stringify(request)}) ${selection} }`, variables: '{}', operationName: null };
    return graphqlCase('offline', role, {}, graphqlBody(doc));
  });
  const http = httpCases(known);
  const httpCaseList = [...http.fixed, ...sample(http.arb, Math.max(0, COUNTS.http - http.fixed.length), 4)];
  const pageCases = sample(pageCaseArb(known, arbs), COUNTS.page, 5);
  const socketCases = SOCKET_REQUESTS.map((raw): Case => ({ group: 'socket', role: 'anonymous', method: 'RAW', path: '', headers: {}, raw }));
  // Interleaved, so that mutations, malformed bodies and page posts meet each other on the server.
  const cases = interleave<Case>([graphqlCases, rawCases, offlineCases, httpCaseList, pageCases, socketCases]);

  // Libraries that write to the console themselves (graphql-ws does, on a socket error) bypass the
  // server's logger: such a line is an error-level log as well.
  const consoleErrors: string[] = [];
  const consoleSpy = jest.spyOn(console, 'error').mockImplementation((...args: unknown[]) => {
    consoleErrors.push(args.map((a) => (a instanceof Error ? `${a.name}: ${a.message}` : String(a))).join(' '));
  });

  const answers: Answer[] = new Array<Answer>(cases.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < cases.length) {
        const i = next++;
        answers[i] = await send(cases[i], i);
      }
    }),
  );

  // The burner account logs out in every way, with generated selections and garbage around it.
  const burnerDocs = [
    'mutation { logout { ok errors { code message } } }',
    'mutation { a: logout { ok } b: logout { ok } }',
    'mutation { logoutEverywhere { endedLeases revokedTokens errors { code } } }',
    'mutation { logout { ok } logoutEverywhere { revokedTokens } }',
    'mutation { logoutEverywhere @include(if: true) { revokedTokens } }',
  ];
  for (const [i, query] of burnerDocs.entries()) {
    const c: Case = {
      group: 'graphql',
      role: 'bogus',
      method: 'POST',
      path: '/graphql',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${known.burner.token}` },
      body: JSON.stringify({ query }),
    };
    cases.push(c);
    answers.push(await send(c, cases.length - 1));
    if (i === 1) {
      // and logs in again for the next one
      const r = await t.gql('mutation($i: LoginInput!) { login(input: $i) { token } }', { i: { email: known.burner.email, password: PASSWORD } });
      known.burner.token = r.data?.login.token ?? known.burner.token;
    }
  }

  if (process.env.FUZZ_DUMP) {
    // Every request with its answer, for looking into a run (FUZZ_DUMP=<file>).
    fs.writeFileSync(
      process.env.FUZZ_DUMP,
      JSON.stringify(cases.map((c, i) => ({ i, ...c, body: compact(String(c.body ?? c.raw ?? ''), 2000), answer: answers[i] }))),
    );
  }

  // The generator reaches every Query and Mutation field: each one was executed at least once.
  const reached = new Set<string>();
  let executed = 0;
  cases.forEach((c, i) => {
    if (c.group !== 'graphql') return;
    try {
      const json = JSON.parse(answers[i].text) as { data?: Record<string, unknown> | null; errors?: Array<{ path?: Array<string | number> }> };
      if (json.data === undefined) return; // refused before execution
      executed++;
      const roots = [...Object.keys(json.data ?? {}), ...(json.errors ?? []).map((e) => String(e.path?.[0] ?? ''))];
      for (const key of roots) reached.add(key.replace(/^a\d+_/, ''));
    } catch {
      /* not JSON */
    }
  });
  const codes = new Map<string, number>();
  for (const a of answers) for (const m of a.text.matchAll(/"code":"([A-Z_]+)"/g)) codes.set(m[1], (codes.get(m[1]) ?? 0) + 1);
  const unreached = [schema.getQueryType()!, schema.getMutationType()!].flatMap((root) => Object.keys(root.getFields()).filter((f) => !reached.has(f)));

  // Every answer, judged.
  const failures: Array<{ index: number; problems: string[]; status: number; answer: string }> = [];
  const byReqId = new Map<string, number>();
  const statuses = new Map<string, number>();
  cases.forEach((c, i) => {
    const a = answers[i];
    if (a.reqId) byReqId.set(a.reqId, i);
    statuses.set(String(a.status), (statuses.get(String(a.status)) ?? 0) + 1);
    const problems = problemsOf(c, a);
    if (problems.length) failures.push({ index: i, problems, status: a.status, answer: compact(a.text, 600) });
  });

  // What the server logged at error level (or above), tied to the request that caused it.
  await new Promise((r) => setTimeout(r, 200)); // a log line written just after its answer
  const logged = logLines.map((l) => {
    try {
      return JSON.parse(l) as { level: number; msg?: string; reqId?: string; err?: { type?: string; message?: string; stack?: string } };
    } catch {
      return { level: 50, msg: `unparsable log line: ${l}` };
    }
  });
  const errorLogs = logged.filter((l) => l.level >= 50);
  for (const l of errorLogs) {
    const index = l.reqId ? byReqId.get(l.reqId) : undefined;
    const line = `logged at level ${l.level}: ${l.msg} ${l.err ? `${l.err.type}: ${compact(l.err.message ?? '', 300)} ${compact((l.err.stack ?? '').split('\n').slice(1, 4).join(' | '), 400)}` : ''}`;
    const existing = index !== undefined ? failures.find((f) => f.index === index) : undefined;
    if (existing) existing.problems.push(line);
    else
      failures.push({
        index: index ?? -1,
        problems: [line],
        status: index !== undefined ? answers[index].status : 0,
        answer: index !== undefined ? compact(answers[index].text, 600) : '',
      });
  }
  consoleSpy.mockRestore();
  for (const line of consoleErrors) failures.push({ index: -1, problems: [`console.error: ${compact(line, 400)}`], status: 0, answer: '' });
  const warnings = new Map<string, number>();
  for (const l of logged.filter((x) => x.level === 40)) warnings.set(l.msg ?? '?', (warnings.get(l.msg ?? '?') ?? 0) + 1);

  // After all that, the server answers its probes as usual.
  const ready = await fetch(`${t.base}/readyz`);
  const probe = await fetch(t.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ __typename }' }) });
  const probeBody = (await probe.json()) as { data?: { __typename?: string } };
  const meProbe = await t.gql('{ me { userId } }', {}, { token: known.owner.token });

  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const slowest = answers
    .map((a, i) => [i, a.ms ?? 0] as const)
    .sort((x, y) => y[1] - x[1])
    .slice(0, Number(process.env.FUZZ_SLOWEST ?? 5))
    .map(([i, ms]) => `#${i} ${cases[i].group} ${Math.round(ms)} ms`);
  console.info(
    `fuzz: seed ${SEED}, ${cases.length} requests in ${seconds} s (${Object.entries(COUNTS)
      .map(([g, n]) => `${g} ${n}`)
      .join(
        ', ',
      )}, socket ${socketCases.length}); ${executed} generated documents executed; codes answered ${[...codes].map(([c, n]) => `${c} ${n}`).join(', ')}; statuses ${JSON.stringify(Object.fromEntries([...statuses].sort()))}; warnings ${JSON.stringify(Object.fromEntries(warnings))}; ${failures.length} failing; slowest ${slowest.join(', ')}`,
  );

  // The server is alive and well, and every field was reached.
  expect(unreached).toEqual([]);
  expect(ready.status).toBe(200);
  expect(probe.status).toBe(200);
  expect(probeBody.data?.__typename).toBe('Query');
  expect(meProbe.data?.me?.userId).toBe(known.owner.account.userId);

  // One line per kind of problem first (the first few requests of each), then the details.
  const signature = (p: string) =>
    p
      .replace(/"[^"]*"/g, '"…"')
      .replace(/\d+/g, 'N')
      .slice(0, 120);
  const kinds = new Map<string, number[]>();
  for (const f of failures) for (const p of f.problems) kinds.set(signature(p), [...(kinds.get(signature(p)) ?? []), f.index]);
  const shown = new Set<number>();
  const report: string[] = [];
  for (const [kind, indexes] of kinds) {
    report.push(`${kind}  (${indexes.length}×, e.g. #${indexes.slice(0, 5).join(', #')})`);
    for (const i of indexes.slice(0, 3)) shown.add(i);
  }
  const details = failures
    .filter((f) => shown.has(f.index))
    .slice(0, 25)
    .map(
      (f) =>
        `${f.index >= 0 ? describeCase(cases[f.index], f.index) : '(not tied to one request: a background or console line)'}\n  → ${f.status} ${f.answer}\n  problems: ${f.problems.join('\n            ')}`,
    );
  if (failures.length) {
    const file = path.join(os.tmpdir(), `tessera-fuzz-failures-${SEED}.json`);
    fs.writeFileSync(
      file,
      JSON.stringify(
        failures.map((f) => ({ ...f, request: f.index >= 0 ? cases[f.index] : null })),
        null,
        2,
      ),
    );
    report.push(`(all ${failures.length} failing requests: ${file}; seed ${SEED})`);
  }
  expect([...report, ...details].join('\n\n')).toBe('');
}, 180_000);

/** Round-robin over the groups, so that every stretch of the run mixes them. */
function interleave<T>(groups: T[][]): T[] {
  const out: T[] = [];
  const longest = Math.max(...groups.map((g) => g.length));
  for (let i = 0; i < longest; i++) for (const g of groups) if (i < g.length) out.push(g[i]);
  return out;
}
