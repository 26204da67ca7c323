import fs from 'node:fs';
import path from 'node:path';
import argon2 from 'argon2';
import { projectRoot } from '../../platform/paths';

/** R1.4: argon2id with OWASP's parameters (m = 19456 KiB, t = 2, p = 1). */
export const ARGON2_OPTIONS = { type: argon2.argon2id, memoryCost: 19456, timeCost: 2, parallelism: 1 } as const;

export const PASSWORD_MIN = 8;
export const PASSWORD_MAX = 128;

let common: Set<string> | undefined;

function commonPasswords(): Set<string> {
  if (!common) {
    const file = path.join(projectRoot(), 'src', 'modules', 'accounts', 'common-passwords.txt');
    common = new Set(
      fs
        .readFileSync(file, 'utf8')
        .split('\n')
        .filter((line) => line !== '' && !line.startsWith('#'))
        .map((line) => line.toLowerCase()),
    );
  }
  return common;
}

export function commonPasswordCount(): number {
  return commonPasswords().size;
}

/** Why a password is refused, or undefined when it is acceptable (R1.4; no composition rules). */
export function passwordProblem(password: string): 'TOO_SHORT' | 'TOO_LONG' | 'TOO_COMMON' | undefined {
  const length = [...password].length; // code points, so that an emoji counts once
  if (length < PASSWORD_MIN) return 'TOO_SHORT';
  if (length > PASSWORD_MAX) return 'TOO_LONG';
  if (commonPasswords().has(password.toLowerCase())) return 'TOO_COMMON';
  return undefined;
}

/** Hashing runs on libuv's thread pool (node-argon2 is asynchronous), off the event loop. */
export function hashPassword(password: string): Promise<string> {
  return argon2.hash(password, ARGON2_OPTIONS);
}

export async function verifyPassword(hash: string, password: string): Promise<boolean> {
  try {
    return await argon2.verify(hash, password);
  } catch {
    return false;
  }
}

let dummy: Promise<string> | undefined;

/** Spends the same work as a real verification, for unknown emails (no timing oracle). */
export async function verifyAgainstDummy(password: string): Promise<void> {
  dummy ??= hashPassword('tessera-dummy-password-for-timing');
  await verifyPassword(await dummy, password);
}
