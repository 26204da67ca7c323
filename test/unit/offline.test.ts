import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runOfflineCommand } from '../../src/offline/cli';
import { OfflineFormatError, decodePayload, deviceDigest, encodePayload, keyIdOf, publicKeyDocument, type OfflineResponseFile } from '../../src/offline/format';
import { createOfflineRequest, parseOfflineRequest } from '../../src/offline/request';
import { signOfflineResponse, type OfflineResponseFields } from '../../src/offline/sign';
import { verifyOfflineResponse } from '../../src/offline/verify';

const DEVICE = 'DESKTOP-7Q2K/disk-0001';
const USER = 'A-CC5-FB7';
const SERVER = 'https://licenses.example.com';

function ed25519(): { privateKey: KeyObject; publicKey: KeyObject } {
  return generateKeyPairSync('ed25519');
}

/** The key of the README's worked example: the Ed25519 seed 01 02 … 20 (hex). */
function exampleKey(): KeyObject {
  const seed = Buffer.from(Array.from({ length: 32 }, (_, i) => i + 1));
  return createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]), format: 'der', type: 'pkcs8' });
}

function fieldsFor(nonce: string, overrides: Partial<OfflineResponseFields> = {}): OfflineResponseFields {
  return {
    licenseId: 'L-1A2-B3C',
    userId: USER,
    deviceId: DEVICE,
    platform: 'WINDOWS',
    nonce,
    issuedAt: '2025-03-01T12:05:00.000Z',
    ...overrides,
  } as OfflineResponseFields;
}

/** Re-signs a hand-made payload object, to test what verify does with signed but odd content. */
function signRaw(privateKey: KeyObject, payloadObj: object, envelope: Partial<OfflineResponseFile> = {}): string {
  const payload = encodePayload(payloadObj);
  return JSON.stringify({
    v: 1,
    type: 'tessera-offline-response',
    keyId: keyIdOf(privateKey),
    payload,
    signature: sign(null, Buffer.from(payload, 'ascii'), privateKey).toString('base64url'),
    ...envelope,
  });
}

function flipChar(s: string, index: number): string {
  const c = s[index];
  return s.slice(0, index) + (c === 'A' ? 'B' : 'A') + s.slice(index + 1);
}

describe('R6.5 offline format: the worked example of the README section (known answers)', () => {
  it('gives the documented key ID, request payload, device digest and signature', () => {
    const privateKey = exampleKey();
    const doc = publicKeyDocument(createPublicKey(privateKey));
    expect(doc).toEqual({
      v: 1,
      alg: 'Ed25519',
      keyId: '646d6be49d9f0048',
      publicKeyPem: '-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAebVWLo/mVPlAeLES6KmLp5AfhTrmlb7X4OORC60ElmQ=\n-----END PUBLIC KEY-----\n',
    });
    const created = createOfflineRequest({
      deviceId: DEVICE,
      platform: 'WINDOWS',
      userId: USER,
      serverUrl: SERVER,
      nonce: Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex'),
      now: new Date('2025-03-01T12:00:00.000Z'),
    });
    expect(created.payload).toBe(
      'eyJ2IjoxLCJ0eXBlIjoidGVzc2VyYS1vZmZsaW5lLXJlcXVlc3QiLCJkZXZpY2VJZCI6IkRFU0tUT1AtN1EySy9kaXNrLTAwMDEiLCJwbGF0Zm9ybSI6IldJTkRPV1MiLCJ1c2VySWQiOiJBLUNDNS1GQjciLCJub25jZSI6IkFBRUNBd1FGQmdjSUNRb0xEQTBPRHciLCJjcmVhdGVkQXQiOiIyMDI1LTAzLTAxVDEyOjAwOjAwLjAwMFoifQ',
    );
    expect(created.url).toBe(`${SERVER}/offline?request=${created.payload}`);
    expect(created.request.nonce).toBe('AAECAwQFBgcICQoLDA0ODw');
    expect(deviceDigest(DEVICE)).toBe('937065c1e843efd70d5327b4013c702b09c4297ddb07382d92be12adf9520de7');
    const file = JSON.parse(signOfflineResponse(privateKey, fieldsFor(created.request.nonce))) as OfflineResponseFile;
    expect(file).toEqual({
      v: 1,
      type: 'tessera-offline-response',
      keyId: '646d6be49d9f0048',
      payload:
        'eyJ2IjoxLCJsaWNlbnNlSWQiOiJMLTFBMi1CM0MiLCJ1c2VySWQiOiJBLUNDNS1GQjciLCJkZXZpY2VEaWdlc3QiOiI5MzcwNjVjMWU4NDNlZmQ3MGQ1MzI3YjQwMTNjNzAyYjA5YzQyOTdkZGIwNzM4MmQ5MmJlMTJhZGY5NTIwZGU3IiwicGxhdGZvcm0iOiJXSU5ET1dTIiwibm9uY2UiOiJBQUVDQXdRRkJnY0lDUW9MREEwT0R3IiwiaXNzdWVkQXQiOiIyMDI1LTAzLTAxVDEyOjA1OjAwLjAwMFoifQ',
      signature: '5a4dCiXSGDnCDly-uu_3WVIhXytJAdM0z7QL3pnx_LIOjADEWjrOIvUWjIS_g7FbRlyfoXvO2YlwtGgsdB-mBw',
    });
    expect(decodePayload(file.payload)).toEqual({
      v: 1,
      licenseId: 'L-1A2-B3C',
      userId: USER,
      deviceDigest: '937065c1e843efd70d5327b4013c702b09c4297ddb07382d92be12adf9520de7',
      platform: 'WINDOWS',
      nonce: 'AAECAwQFBgcICQoLDA0ODw',
      issuedAt: '2025-03-01T12:05:00.000Z',
    });
  });

  it('keyIdOf is the first 16 hex digits of SHA-256 over the DER SPKI, for the public or the private half', () => {
    const { privateKey, publicKey } = ed25519();
    expect(keyIdOf(publicKey)).toMatch(/^[0-9a-f]{16}$/);
    expect(keyIdOf(privateKey)).toBe(keyIdOf(publicKey));
    expect(keyIdOf(ed25519().publicKey)).not.toBe(keyIdOf(publicKey));
    expect(() => keyIdOf(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey)).toThrow(/Ed25519/);
  });

  it('the library imports nothing but node:crypto, node:fs, node:path and its own files', () => {
    const dir = path.join(__dirname, '../../src/offline');
    for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
      const source = fs.readFileSync(path.join(dir, file), 'utf8');
      for (const m of source.matchAll(/(?:from|import|require\()\s*['"]([^'"]+)['"]/g)) {
        expect([file, m[1]]).toEqual([file, expect.stringMatching(/^(node:(crypto|fs|path)|\.\/[a-z-]+)$/)]);
      }
    }
  });
});

describe('R6.5 payload encoding', () => {
  it('round-trips an object through base64url without padding', () => {
    const obj = { a: 'ü€😀', b: [1, 2], c: null };
    const s = encodePayload(obj);
    expect(s).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodePayload(s)).toEqual(obj);
  });

  it.each([
    ['', /empty/],
    ['!!!not base64', /not base64url/],
    ['eyJhIjoxfQ==', /not base64url/],
    ['eyJhIjoxfR', /not valid base64url/],
    [Buffer.from('not json').toString('base64url'), /not decode to JSON/],
    [Buffer.from('[1,2]').toString('base64url'), /JSON object/],
    [Buffer.from('null').toString('base64url'), /JSON object/],
    [Buffer.from([0xff, 0xfe, 0x7b]).toString('base64url'), /UTF-8/],
  ])('decodePayload(%j) throws a clear error', (input, message) => {
    expect(() => decodePayload(input)).toThrow(OfflineFormatError);
    expect(() => decodePayload(input)).toThrow(message);
  });
});

describe('R6.2 offline request', () => {
  const base = { deviceId: DEVICE, platform: 'MAC' as const, userId: USER, serverUrl: SERVER };

  it('creates a request with a random 16-byte nonce and parses it back from the payload, the URL and the HTML file', () => {
    const created = createOfflineRequest({ ...base, now: new Date('2025-01-02T03:04:05.678Z') });
    expect(created.request).toEqual({
      v: 1,
      type: 'tessera-offline-request',
      deviceId: DEVICE,
      platform: 'MAC',
      userId: USER,
      nonce: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/),
      createdAt: '2025-01-02T03:04:05.678Z',
    });
    expect(Buffer.from(created.request.nonce, 'base64url')).toHaveLength(16);
    expect(JSON.parse(Buffer.from(created.payload, 'base64url').toString('utf8'))).toEqual(created.request);
    expect(created.url).toBe(`${SERVER}/offline?request=${created.payload}`);

    expect(parseOfflineRequest(created.payload)).toEqual(created.request);
    expect(parseOfflineRequest(created.url)).toEqual(created.request);
    expect(parseOfflineRequest(`  ${created.url}\n`)).toEqual(created.request);
    expect(parseOfflineRequest(`/offline?request=${created.payload}`)).toEqual(created.request);
    expect(parseOfflineRequest(created.html)).toEqual(created.request);
    expect(parseOfflineRequest('\uFEFF' + created.html)).toEqual(created.request);
    expect(createOfflineRequest(base).request.nonce).not.toBe(createOfflineRequest(base).request.nonce);
  });

  it('writes a standalone HTML page that forwards with a meta refresh and a link, in English, German and Spanish', () => {
    const { html, url } = createOfflineRequest(base);
    expect(html).toMatch(/^<!DOCTYPE html>/);
    expect(html).toContain('<meta charset="utf-8">');
    expect(html).toContain(`<meta http-equiv="refresh" content="0; url=${url}">`);
    expect(html).toContain(`href="${url}"`);
    expect(html).toMatch(/<section lang="en">[\s\S]*web browser/);
    expect(html).toMatch(/<section lang="de">[\s\S]*Webbrowser/);
    expect(html).toMatch(/<section lang="es">[\s\S]*navegador/);
    // No external resources: no scripts, stylesheets, images or frames.
    expect(html).not.toMatch(/<script|<link|<img|<iframe|\ssrc=/i);
    expect(html).toContain("default-src 'none'");
  });

  it('HTML-escapes the URL and still parses it back', () => {
    const created = createOfflineRequest({ ...base, serverUrl: "https://example.com/it's/" });
    expect(created.url).toBe(`https://example.com/it's/offline?request=${created.payload}`);
    expect(created.html).toContain('https://example.com/it&#39;s/offline?request=');
    expect(created.html).not.toContain("it's/offline");
    expect(parseOfflineRequest(created.html)).toEqual(created.request);
  });

  it('keeps a path prefix of the server URL and drops a trailing slash', () => {
    expect(createOfflineRequest({ ...base, serverUrl: 'http://localhost:4000/' }).url).toMatch(/^http:\/\/localhost:4000\/offline\?request=/);
    expect(createOfflineRequest({ ...base, serverUrl: 'https://example.com/tessera' }).url).toMatch(/^https:\/\/example\.com\/tessera\/offline\?request=/);
  });

  it('accepts a lowercase or padded user ID and a nonce given as base64url', () => {
    const created = createOfflineRequest({ ...base, userId: ' a-cc5-fb7 ', nonce: 'AAECAwQFBgcICQoLDA0ODw' });
    expect(created.request.userId).toBe(USER);
    expect(created.request.nonce).toBe('AAECAwQFBgcICQoLDA0ODw');
  });

  it.each([
    [{ userId: 'CC5-FB7' }, /user ID/],
    [{ userId: 'A-CC5-FB' }, /user ID/],
    [{ userId: 'A-GGG-FB7' }, /user ID/],
    [{ platform: 'LINUX' }, /WINDOWS or MAC/],
    [{ platform: 'windows' }, /WINDOWS or MAC/],
    [{ deviceId: '' }, /device ID is empty/],
    [{ deviceId: '   ' }, /device ID is empty/],
    [{ deviceId: 'x'.repeat(257) }, /longer than 256/],
    [{ nonce: 'short' }, /nonce/],
    [{ nonce: Buffer.alloc(8) }, /nonce/],
    [{ serverUrl: 'licenses.example.com' }, /absolute URL/],
    [{ serverUrl: 'ftp://example.com' }, /http or https/],
    [{ serverUrl: 'https://example.com/?x=1' }, /query/],
    [{ now: new Date('nope') }, /valid date/],
  ])('refuses %j', (override, message) => {
    expect(() => createOfflineRequest({ ...base, ...(override as object) })).toThrow(message);
  });

  it('refuses what is not a valid version-1 request, with a clear message', () => {
    const good = createOfflineRequest(base).request;
    const encoded = (o: object) => encodePayload(o);
    const cases: Array<[string, RegExp]> = [
      ['', /empty/],
      ['hello world', /no "request" parameter/],
      ['https://example.com/offline?other=1', /no "request" parameter/],
      ['https://example.com/offline?request=a&request=b', /more than one/],
      ['<html><body><a href="https://example.com/">nothing</a></body></html>', /no link/],
      [`https://x/offline?request=${encoded({ ...good, type: 'something-else' })}`, /not a Tessera offline request/],
      [encoded({ ...good, deviceId: '' }), /device ID is empty/],
      [encoded({ ...good, deviceId: 42 }), /device ID must be a string/],
      [encoded({ ...good, platform: 'LINUX' }), /platform/],
      [encoded({ ...good, userId: 'a-cc5-fb7' }), /user ID/],
      [encoded({ ...good, nonce: 'AAECAwQFBgcICQoLDA0O' }), /nonce/],
      [encoded({ ...good, createdAt: 'yesterday' }), /createdAt/],
      [encoded({ ...good, createdAt: '2025-01-02T03:04:05+01:00' }), /createdAt/],
      ['eyJhIjoxfQ==', /not base64url .*no padding/],
      ['eyJh+IjoxfQ', /not base64url/],
    ];
    for (const [input, message] of cases) {
      expect(() => parseOfflineRequest(input)).toThrow(message);
    }
    let error: unknown;
    try {
      parseOfflineRequest(encoded({ ...good, v: 2 }));
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(OfflineFormatError);
    expect((error as OfflineFormatError).code).toBe('UNSUPPORTED_VERSION');
  });

  it('returns only the known fields and refuses HTML that links to two different requests', () => {
    const a = createOfflineRequest(base);
    const b = createOfflineRequest(base);
    expect(parseOfflineRequest(encodePayload({ ...a.request, extra: 'ignored' }))).toEqual(a.request);
    const mixed = a.html.replace(/href="[^"]*"/, `href="${b.url}"`);
    expect(() => parseOfflineRequest(mixed)).toThrow(/more than one different/);
  });
});

describe('R6.3 offline response: sign and verify', () => {
  const nonce = 'AAECAwQFBgcICQoLDA0ODw';
  const { privateKey, publicKey } = ed25519();
  const keyDoc = JSON.stringify(publicKeyDocument(publicKey), null, 2) + '\n';
  const pem = String(publicKey.export({ type: 'spki', format: 'pem' }));
  const responseText = signOfflineResponse(privateKey, fieldsFor(nonce));
  const verifyWith = (overrides: Partial<Parameters<typeof verifyOfflineResponse>[0]> = {}) =>
    verifyOfflineResponse({ responseText, publicKey: keyDoc, deviceId: DEVICE, ...overrides });

  it('verifies with the public key document, the bare PEM and a KeyObject', () => {
    const expected = {
      ok: true,
      payload: {
        v: 1,
        licenseId: 'L-1A2-B3C',
        userId: USER,
        deviceDigest: deviceDigest(DEVICE),
        platform: 'WINDOWS',
        nonce,
        issuedAt: '2025-03-01T12:05:00.000Z',
      },
    };
    expect(verifyWith()).toEqual(expected);
    expect(verifyWith({ publicKey: pem })).toEqual(expected);
    expect(verifyWith({ publicKey: '\uFEFF' + pem + '\n\n' })).toEqual(expected);
    expect(verifyWith({ publicKey })).toEqual(expected);
    expect(verifyWith({ expectedNonce: nonce, expectedUserId: USER })).toEqual(expected);
    expect(verifyWith({ expectedUserId: 'a-cc5-fb7' })).toEqual(expected);
  });

  it('signs deterministically, from the device ID or its digest alike, and writes JSON with the fields in order', () => {
    expect(signOfflineResponse(privateKey, fieldsFor(nonce))).toBe(responseText);
    expect(signOfflineResponse(privateKey, { ...fieldsFor(nonce), deviceId: undefined, deviceDigest: deviceDigest(DEVICE) })).toBe(responseText);
    expect(signOfflineResponse(privateKey, fieldsFor(nonce, { issuedAt: new Date('2025-03-01T12:05:00.000Z') }))).toBe(responseText);
    expect(Object.keys(JSON.parse(responseText))).toEqual(['v', 'type', 'keyId', 'payload', 'signature']);
    expect(Object.keys(decodePayload(JSON.parse(responseText).payload))).toEqual(['v', 'licenseId', 'userId', 'deviceDigest', 'platform', 'nonce', 'issuedAt']);
  });

  it('refuses to sign invalid fields or with a public key', () => {
    expect(() => signOfflineResponse(privateKey, fieldsFor(nonce, { licenseId: 'R-123' }))).toThrow(/licenseId/);
    expect(() => signOfflineResponse(privateKey, fieldsFor(nonce, { userId: 'nobody' }))).toThrow(/userId/);
    expect(() => signOfflineResponse(privateKey, fieldsFor('nope'))).toThrow(/nonce/);
    expect(() => signOfflineResponse(privateKey, fieldsFor(nonce, { issuedAt: 'now' }))).toThrow(/issuedAt/);
    expect(() => signOfflineResponse(privateKey, fieldsFor(nonce, { platform: 'LINUX' as never }))).toThrow(/platform/);
    expect(() => signOfflineResponse(privateKey, { ...fieldsFor(nonce), deviceId: undefined, deviceDigest: 'ABC' })).toThrow(/deviceDigest/);
    expect(() => signOfflineResponse(publicKey, fieldsFor(nonce))).toThrow(/private key/);
  });

  it('BAD_SIGNATURE when one character of the payload or signature is flipped, or a field is changed and re-encoded', () => {
    const file = JSON.parse(responseText) as OfflineResponseFile;
    for (const index of [0, 10, Math.floor(file.payload.length / 2), file.payload.length - 5]) {
      const tampered = JSON.stringify({ ...file, payload: flipChar(file.payload, index) });
      expect(verifyWith({ responseText: tampered })).toMatchObject({ ok: false, reason: 'BAD_SIGNATURE' });
    }
    const badSig = JSON.stringify({ ...file, signature: flipChar(file.signature, 20) });
    expect(verifyWith({ responseText: badSig })).toMatchObject({ ok: false, reason: 'BAD_SIGNATURE' });

    const changed = { ...decodePayload(file.payload), licenseId: 'L-FFF-FFF' };
    const reencoded = JSON.stringify({ ...file, payload: encodePayload(changed) });
    const result = verifyWith({ responseText: reencoded });
    expect(result).toMatchObject({ ok: false, reason: 'BAD_SIGNATURE' });
    expect(!result.ok && result.message).toMatch(/altered/);

    // Another device's digest pasted in: the signature catches it before the device check.
    const moved = { ...decodePayload(file.payload), deviceDigest: deviceDigest('OTHER-PC') };
    expect(verifyWith({ responseText: JSON.stringify({ ...file, payload: encodePayload(moved) }), deviceId: 'OTHER-PC' })).toMatchObject({
      ok: false,
      reason: 'BAD_SIGNATURE',
    });
  });

  it('WRONG_DEVICE on another computer, WRONG_NONCE for another request, WRONG_USER for another account', () => {
    expect(verifyWith({ deviceId: 'OTHER-PC' })).toMatchObject({ ok: false, reason: 'WRONG_DEVICE' });
    expect(verifyWith({ deviceId: DEVICE + ' ' })).toMatchObject({ ok: false, reason: 'WRONG_DEVICE' });
    expect(verifyWith({ deviceId: '' })).toMatchObject({ ok: false, reason: 'WRONG_DEVICE' });
    expect(verifyWith({ expectedNonce: 'AAAAAAAAAAAAAAAAAAAAAA' })).toMatchObject({ ok: false, reason: 'WRONG_NONCE' });
    expect(verifyWith({ expectedUserId: 'A-000-000' })).toMatchObject({ ok: false, reason: 'WRONG_USER', message: expect.stringContaining('A-000-000') });
  });

  it('KEY_MISMATCH with another server key, BAD_SIGNATURE when the keyId is forged to match', () => {
    const other = ed25519();
    const otherDoc = JSON.stringify(publicKeyDocument(other.publicKey));
    const mismatch = verifyWith({ publicKey: otherDoc });
    expect(mismatch).toMatchObject({ ok: false, reason: 'KEY_MISMATCH' });
    expect(!mismatch.ok && mismatch.message).toContain(keyIdOf(other.publicKey));
    expect(verifyWith({ publicKey: String(other.publicKey.export({ type: 'spki', format: 'pem' })) })).toMatchObject({ ok: false, reason: 'KEY_MISMATCH' });

    const forged = JSON.stringify({ ...JSON.parse(responseText), keyId: keyIdOf(other.publicKey) });
    expect(verifyWith({ responseText: forged, publicKey: otherDoc })).toMatchObject({ ok: false, reason: 'BAD_SIGNATURE' });

    // Signed by someone else's key altogether.
    const foreign = signOfflineResponse(other.privateKey, fieldsFor(nonce));
    expect(verifyWith({ responseText: foreign })).toMatchObject({ ok: false, reason: 'KEY_MISMATCH' });
  });

  it('MALFORMED on garbage response files', () => {
    const file = JSON.parse(responseText) as OfflineResponseFile;
    const cases: Array<[string, RegExp]> = [
      ['', /not JSON/],
      ['garbage', /not JSON/],
      ['[1,2,3]', /not a JSON object/],
      ['null', /not a JSON object/],
      ['{}', /not a Tessera offline response/],
      [JSON.stringify({ ...file, type: 'tessera-offline-request' }), /not a Tessera offline response/],
      [JSON.stringify({ ...file, keyId: undefined }), /keyId/],
      [JSON.stringify({ ...file, payload: 'not base64!' }), /payload/],
      [JSON.stringify({ ...file, payload: 42 }), /payload/],
      [JSON.stringify({ ...file, signature: undefined }), /signature/],
      [JSON.stringify({ ...file, signature: file.signature.slice(0, 40) }), /signature has 30 bytes/],
    ];
    for (const [text, message] of cases) {
      const result = verifyWith({ responseText: text });
      expect([text, result]).toEqual([text, { ok: false, reason: 'MALFORMED', message: expect.stringMatching(message) }]);
    }
  });

  it('MALFORMED when the signed payload itself is garbage or misses fields', () => {
    const garbage = JSON.parse(signRaw(privateKey, {})) as OfflineResponseFile;
    const notJsonPayload = Buffer.from('hello', 'utf8').toString('base64url');
    const signedGarbage = JSON.stringify({
      ...garbage,
      payload: notJsonPayload,
      signature: sign(null, Buffer.from(notJsonPayload, 'ascii'), privateKey).toString('base64url'),
    });
    expect(verifyWith({ responseText: signedGarbage })).toMatchObject({
      ok: false,
      reason: 'MALFORMED',
      message: expect.stringMatching(/signed payload: .*JSON/),
    });
    const good = decodePayload(JSON.parse(responseText).payload);
    for (const field of ['licenseId', 'userId', 'deviceDigest', 'platform', 'nonce', 'issuedAt']) {
      const result = verifyWith({ responseText: signRaw(privateKey, { ...good, [field]: undefined }) });
      expect(result).toMatchObject({ ok: false, reason: 'MALFORMED', message: expect.stringContaining(field) });
    }
  });

  it('UNSUPPORTED_VERSION for a response file or signed payload of another version', () => {
    expect(verifyWith({ responseText: JSON.stringify({ ...JSON.parse(responseText), v: 2 }) })).toMatchObject({ ok: false, reason: 'UNSUPPORTED_VERSION' });
    const good = decodePayload(JSON.parse(responseText).payload);
    expect(verifyWith({ responseText: signRaw(privateKey, { ...good, v: 2 }) })).toMatchObject({ ok: false, reason: 'UNSUPPORTED_VERSION' });
    expect(verifyWith({ publicKey: JSON.stringify({ ...publicKeyDocument(publicKey), v: 2 }) })).toMatchObject({ ok: false, reason: 'UNSUPPORTED_VERSION' });
  });

  it('MALFORMED with a message about the key when the public key is unusable', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }) as string;
    const privatePem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    const doc = publicKeyDocument(publicKey);
    const cases: Array<[string, RegExp]> = [
      ['', /public key: expected/],
      ['garbage', /public key: expected/],
      ['{not json', /public key: .*not valid JSON/],
      [privatePem, /public key: this is a private key/],
      [rsa, /public key: expected an Ed25519 key/],
      ['-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n', /public key: the PEM public key cannot be read/],
      [JSON.stringify({ ...doc, keyId: '0000000000000000' }), /public key: .*keyId/],
      [JSON.stringify({ ...doc, alg: 'RS256' }), /public key: .*algorithm/],
      [JSON.stringify({ ...doc, publicKeyPem: undefined }), /public key: .*publicKeyPem/],
    ];
    for (const [key, message] of cases) {
      const result = verifyWith({ publicKey: key });
      expect([key, result]).toEqual([key, { ok: false, reason: 'MALFORMED', message: expect.stringMatching(message) }]);
    }
  });
});

describe('R6.5 offline-request and offline-verify commands', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-offline-'));
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function run(command: 'offline-request' | 'offline-verify', args: string[], env: Record<string, string | undefined> = {}) {
    let stdout = '';
    let stderr = '';
    const code = await runOfflineCommand(command, args, {
      stdout: { write: (s: string) => (stdout += s) },
      stderr: { write: (s: string) => (stderr += s) },
      env,
      cwd: dir,
    });
    return { code, stdout, stderr };
  }

  it('offline-request writes the request file and prints its path, the URL and the nonce', async () => {
    const r = await run('offline-request', ['--device', DEVICE, '--platform', 'windows', '--user', USER, '--out', 'request.html', '--server-url', SERVER]);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    const file = path.join(dir, 'request.html');
    const request = parseOfflineRequest(fs.readFileSync(file, 'utf8'));
    expect(request).toMatchObject({ deviceId: DEVICE, platform: 'WINDOWS', userId: USER });
    expect(r.stdout).toContain(file);
    expect(r.stdout).toContain(`${SERVER}/offline?request=`);
    expect(r.stdout).toContain(`Nonce: ${request.nonce} `);
    expect(parseOfflineRequest(/https:\S+/.exec(r.stdout)![0])).toEqual(request);
  });

  it('offline-request takes the server URL from PUBLIC_URL, else http://localhost:4000, and accepts --name=value', async () => {
    const a = await run('offline-request', [`--device=${DEVICE}`, '--platform=MAC', `--user=${USER}`, '--out=a.html'], {
      PUBLIC_URL: 'https://tessera.example.org',
    });
    expect(a.code).toBe(0);
    expect(a.stdout).toContain('https://tessera.example.org/offline?request=');
    const b = await run('offline-request', ['--device', DEVICE, '--platform', 'MAC', '--user', USER, '--out', 'b.html']);
    expect(b.code).toBe(0);
    expect(b.stdout).toContain('http://localhost:4000/offline?request=');
  });

  it.each([
    [['--platform', 'MAC', '--user', USER, '--out', 'x.html'], /missing --device/],
    [['--device', DEVICE, '--platform', 'LINUX', '--user', USER, '--out', 'x.html'], /--platform must be WINDOWS or MAC/],
    [['--device', DEVICE, '--platform', 'MAC', '--user', 'bob', '--out', 'x.html'], /user ID/],
    [['--device', DEVICE, '--platform', 'MAC', '--user', USER, '--out', 'x.html', '--colour', 'red'], /unknown option --colour/],
    [['--device', DEVICE, '--platform', 'MAC', '--user', USER, '--out'], /--out needs a value/],
    [['--device', DEVICE, '--device', 'B', '--platform', 'MAC', '--user', USER, '--out', 'x.html'], /more than once/],
    [['stray', '--device', DEVICE], /unexpected argument/],
    [['--device', DEVICE, '--platform', 'MAC', '--user', USER, '--out', 'x.html', '--server-url', 'nope'], /absolute URL/],
  ])('offline-request %j is a usage error (exit 2)', async (args, message) => {
    const r = await run('offline-request', args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toContain('Usage: npm run tessera -- offline-request');
    expect(r.stdout).toBe('');
    expect(fs.existsSync(path.join(dir, 'x.html'))).toBe(false);
  });

  it('offline-request exits 1 when the file cannot be written, and --help prints the usage', async () => {
    const r = await run('offline-request', ['--device', DEVICE, '--platform', 'MAC', '--user', USER, '--out', path.join(dir, 'missing-dir', 'x.html')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cannot write/);
    const help = await run('offline-verify', ['--help']);
    expect(help).toMatchObject({ code: 0, stderr: '' });
    expect(help.stdout).toContain('offline-verify --response');
  });

  it('offline-verify: exit 0 for a valid response, 1 with the reason for a bad one, 2 for usage errors', async () => {
    const { privateKey, publicKey } = ed25519();
    const made = await run('offline-request', ['--device', DEVICE, '--platform', 'WINDOWS', '--user', USER, '--out', 'request.html']);
    expect(made.code).toBe(0);
    const request = parseOfflineRequest(fs.readFileSync(path.join(dir, 'request.html'), 'utf8'));
    // The server's half, as it would run on the online computer.
    fs.writeFileSync(
      path.join(dir, 'response.lic'),
      signOfflineResponse(privateKey, {
        licenseId: 'L-1A2-B3C',
        userId: request.userId,
        deviceId: request.deviceId,
        platform: request.platform,
        nonce: request.nonce,
        issuedAt: new Date('2025-03-01T12:05:00.000Z'),
      }),
    );
    fs.writeFileSync(path.join(dir, 'key.json'), JSON.stringify(publicKeyDocument(publicKey)));
    fs.writeFileSync(path.join(dir, 'key.pem'), publicKey.export({ type: 'spki', format: 'pem' }));
    fs.writeFileSync(path.join(dir, 'other.json'), JSON.stringify(publicKeyDocument(ed25519().publicKey)));

    const ok = await run('offline-verify', [
      '--response',
      'response.lic',
      '--public-key',
      'key.json',
      '--device',
      DEVICE,
      '--nonce',
      request.nonce,
      '--user',
      USER,
    ]);
    expect(ok).toEqual({ code: 0, stdout: `verified: license L-1A2-B3C for ${USER} on this device, issued 2025-03-01T12:05:00.000Z\n`, stderr: '' });
    const okPem = await run('offline-verify', ['--response', path.join(dir, 'response.lic'), '--public-key', 'key.pem', '--device', DEVICE]);
    expect(okPem.code).toBe(0);

    const failures: Array<[string[], string]> = [
      [['--response', 'response.lic', '--public-key', 'key.json', '--device', 'OTHER-PC'], 'WRONG_DEVICE'],
      [['--response', 'response.lic', '--public-key', 'key.json', '--device', DEVICE, '--nonce', 'AAAAAAAAAAAAAAAAAAAAAA'], 'WRONG_NONCE'],
      [['--response', 'response.lic', '--public-key', 'key.json', '--device', DEVICE, '--user', 'A-000-000'], 'WRONG_USER'],
      [['--response', 'response.lic', '--public-key', 'other.json', '--device', DEVICE], 'KEY_MISMATCH'],
      [['--response', 'key.json', '--public-key', 'key.json', '--device', DEVICE], 'MALFORMED'],
    ];
    for (const [args, reason] of failures) {
      const r = await run('offline-verify', args);
      expect([args, r.code, r.stdout]).toEqual([args, 1, '']);
      expect(r.stderr).toMatch(new RegExp(`^verification failed: ${reason}: \\S.*\\n$`));
    }
    const file = JSON.parse(fs.readFileSync(path.join(dir, 'response.lic'), 'utf8')) as OfflineResponseFile;
    fs.writeFileSync(path.join(dir, 'tampered.lic'), JSON.stringify({ ...file, payload: flipChar(file.payload, 30) }));
    const tampered = await run('offline-verify', ['--response', 'tampered.lic', '--public-key', 'key.json', '--device', DEVICE]);
    expect(tampered.code).toBe(1);
    expect(tampered.stderr).toMatch(/^verification failed: BAD_SIGNATURE: /);

    const usage: Array<[string[], RegExp]> = [
      [['--response', 'response.lic', '--public-key', 'key.json'], /missing --device/],
      [['--response', 'nowhere.lic', '--public-key', 'key.json', '--device', DEVICE], /--response: cannot read .*no such file/],
      [['--response', 'response.lic', '--public-key', 'nowhere.json', '--device', DEVICE], /--public-key: cannot read/],
      [['--response', 'response.lic', '--public-key', 'key.json', '--device', DEVICE, '--user', 'bob'], /--user must look like/],
      [['--response', 'response.lic', '--public-key', 'key.json', '--device', '  '], /--device: the device ID is empty/],
    ];
    for (const [args, message] of usage) {
      const r = await run('offline-verify', args);
      expect([args, r.code]).toEqual([args, 2]);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).toContain('Usage: npm run tessera -- offline-verify');
    }
  });
});
