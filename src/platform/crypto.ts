import { createHash, createHmac, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';

/** An opaque secret for bearer tokens and emailed links: 256 random bits, URL-safe. */
export function newSecretToken(): string {
  return randomBytes(32).toString('base64url');
}

export function sha256(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/** Keyed hash (HMAC-SHA256 with APP_SECRET) for IP addresses and device IDs (R1.6, R1.10). */
export function keyedHash(secret: string, purpose: string, value: string): string {
  return createHmac('sha256', secret).update(`${purpose}\0${value}`, 'utf8').digest('base64url');
}

/** Constant-time comparison of two strings of any length. */
export function safeEqual(a: string, b: string): boolean {
  const ha = sha256(a);
  const hb = sha256(b);
  return timingSafeEqual(ha, hb) && a.length === b.length;
}

const HEX = '0123456789ABCDEF';

/** `groups` groups of `size` uppercase hex digits from crypto randomness, joined by `-`. */
export function randomHexGroups(groups: number, size: number): string[] {
  const out: string[] = [];
  for (let g = 0; g < groups; g++) {
    let s = '';
    for (let i = 0; i < size; i++) s += HEX[randomInt(16)];
    out.push(s);
  }
  return out;
}

/** A public ID such as `A-CC5-FB7` (R1.2) or `L-1A2-B3C` (R2.1). */
export function newPublicId(prefix: string, groups = 2): string {
  return [prefix, ...randomHexGroups(groups, 3)].join('-');
}
