/**
 * `offline-request` and `offline-verify`: the app-side reference as commands (R6.5). They need no
 * server, no database and no configuration besides PUBLIC_URL (a default for --server-url).
 */
import fs from 'node:fs';
import path from 'node:path';
import { OFFLINE_PLATFORMS, OfflineFormatError, USER_ID_PATTERN, deviceIdProblem, isPlatform } from './format';
import { createOfflineRequest } from './request';
import { verifyOfflineResponse } from './verify';

export type OfflineCommand = 'offline-request' | 'offline-verify';

export interface OfflineCommandIo {
  stdout: { write(chunk: string): unknown };
  stderr: { write(chunk: string): unknown };
  /** Defaults to process.env (only PUBLIC_URL is read). */
  env?: Record<string, string | undefined>;
  /** Relative paths are resolved against this; defaults to process.cwd(). */
  cwd?: string;
}

export const OFFLINE_REQUEST_USAGE = `Usage: npm run tessera -- offline-request --device <id> --platform <WINDOWS|MAC> --user <A-XXX-XXX> --out <request.html> [--server-url <URL>]
  Writes an offline request file: an HTML page that takes a browser on any online computer to
  <server URL>/offline?request=… . The server URL defaults to PUBLIC_URL, or http://localhost:4000.`;

export const OFFLINE_VERIFY_USAGE = `Usage: npm run tessera -- offline-verify --response <response.lic> --public-key <file> --device <id> [--nonce <nonce>] [--user <A-XXX-XXX>]
  Checks an offline response file with the server's public key (the JSON from
  GET /.well-known/offline-signing-key, or a PEM). Exit code 0: valid for this device; 1: not valid; 2: usage error.`;

const SPECS: Record<OfflineCommand, { usage: string; required: string[]; optional: string[] }> = {
  'offline-request': { usage: OFFLINE_REQUEST_USAGE, required: ['device', 'platform', 'user', 'out'], optional: ['server-url'] },
  'offline-verify': { usage: OFFLINE_VERIFY_USAGE, required: ['response', 'public-key', 'device'], optional: ['nonce', 'user'] },
};

class UsageError extends Error {}

/** Runs one of the two commands and returns its exit code (0 ok, 1 failed, 2 usage error). */
export async function runOfflineCommand(command: OfflineCommand, args: string[], io: OfflineCommandIo): Promise<number> {
  const spec = SPECS[command];
  if (!spec) {
    io.stderr.write(`Unknown offline command "${String(command)}".\n`);
    return 2;
  }
  if (args.some((a) => a === '--help' || a === '-h')) {
    io.stdout.write(spec.usage + '\n');
    return 0;
  }
  const env = io.env ?? process.env;
  const cwd = io.cwd ?? process.cwd();
  try {
    const flags = parseFlags(args, spec.required, spec.optional);
    return command === 'offline-request' ? await offlineRequest(flags, io, env, cwd) : await offlineVerify(flags, io, cwd);
  } catch (err) {
    if (err instanceof UsageError || err instanceof OfflineFormatError) {
      io.stderr.write(`${command}: ${err.message}\n\n${spec.usage}\n`);
      return 2;
    }
    throw err;
  }
}

async function offlineRequest(flags: Map<string, string>, io: OfflineCommandIo, env: Record<string, string | undefined>, cwd: string): Promise<number> {
  const platform = flags.get('platform')!.trim().toUpperCase();
  if (!isPlatform(platform)) throw new UsageError(`--platform must be ${OFFLINE_PLATFORMS.join(' or ')}`);
  const serverUrl = flags.get('server-url') ?? (env.PUBLIC_URL?.trim() || 'http://localhost:4000');
  const created = createOfflineRequest({ deviceId: flags.get('device')!, platform, userId: flags.get('user')!, serverUrl });
  const out = path.resolve(cwd, flags.get('out')!);
  try {
    await fs.promises.writeFile(out, created.html, 'utf8');
  } catch (err) {
    io.stderr.write(`offline-request: cannot write ${out}: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
  io.stdout.write(
    `Wrote the offline request to ${out}\n` +
      `Open it in a browser on any computer with internet access, or go to:\n${created.url}\n` +
      `Nonce: ${created.request.nonce} (give it to offline-verify --nonce to check the response)\n`,
  );
  return 0;
}

async function offlineVerify(flags: Map<string, string>, io: OfflineCommandIo, cwd: string): Promise<number> {
  const deviceId = flags.get('device')!;
  const problem = deviceIdProblem(deviceId);
  if (problem) throw new UsageError(`--device: ${problem}`);
  const user = flags.get('user')?.trim().toUpperCase();
  if (user !== undefined && !USER_ID_PATTERN.test(user)) throw new UsageError('--user must look like A-1B2-C3D');
  const responseText = await readInput(cwd, flags.get('response')!, '--response');
  const publicKey = await readInput(cwd, flags.get('public-key')!, '--public-key');
  const result = verifyOfflineResponse({ responseText, publicKey, deviceId, expectedNonce: flags.get('nonce')?.trim(), expectedUserId: user });
  if (!result.ok) {
    io.stderr.write(`verification failed: ${result.reason}: ${result.message}\n`);
    return 1;
  }
  const p = result.payload;
  io.stdout.write(`verified: license ${p.licenseId} for ${p.userId} on this device, issued ${p.issuedAt}\n`);
  return 0;
}

async function readInput(cwd: string, file: string, flag: string): Promise<string> {
  const full = path.resolve(cwd, file);
  try {
    return await fs.promises.readFile(full, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(`${flag}: cannot read ${full}${code === 'ENOENT' ? ' (no such file)' : code ? ` (${code})` : ''}`);
  }
}

/** `--name value` or `--name=value`; every flag at most once; unknown flags and stray words are errors. */
function parseFlags(args: string[], required: string[], optional: string[]): Map<string, string> {
  const known = new Set([...required, ...optional]);
  const flags = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const m = /^--([a-z-]+)(?:=([\s\S]*))?$/.exec(arg);
    if (!m) throw new UsageError(`unexpected argument ${JSON.stringify(arg)}`);
    const name = m[1];
    if (!known.has(name)) throw new UsageError(`unknown option --${name}`);
    if (flags.has(name)) throw new UsageError(`--${name} is given more than once`);
    let value = m[2];
    if (value === undefined) {
      value = args[i + 1];
      if (value === undefined || value.startsWith('--')) throw new UsageError(`--${name} needs a value`);
      i++;
    }
    if (value.length === 0) throw new UsageError(`--${name} needs a value`);
    flags.set(name, value);
  }
  const missing = required.filter((name) => !flags.has(name));
  if (missing.length > 0) throw new UsageError(`missing ${missing.map((n) => `--${n}`).join(', ')}`);
  return flags;
}
