import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { DesktopClient, Refused, type ClientEvent, type Platform } from './client';
import { FileEntitlementStore } from './entitlement';
import { NetworkError } from './transport';

/**
 * `tessera desktop start|status|stop`: the desktop app played against a server with the reference
 * client, so that a person or a test can watch a seat being taken, kept and freed.
 */

export const DESKTOP_USAGE = `Usage: npm run tessera -- desktop <start|status|stop> [options]

  start    log in (first time: --email and TESSERA_PASSWORD), take a seat and keep it (heartbeats,
           lease subscription) until Ctrl-C or "desktop stop", then release it
  status   what the server says this device may do now (or the cached signed entitlement when offline)
  stop     end a running "desktop start" (it releases its seat), or release the seat it left behind

Options:
  --server <URL>         the license server (default PUBLIC_URL, else http://localhost:4000)
  --state <dir>          where the app keeps its device ID, token and entitlement (default ~/.tessera-desktop)
  --platform <WINDOWS|MAC|CLOUD>   default: this computer's (WINDOWS elsewhere than macOS)
  --organization <id>    take the seat from this organization first
  --email <email>        log in as this account (the password from TESSERA_PASSWORD)
  --issuer <URL>         the server's PUBLIC_URL, when --server reaches it by another name
  --json                 print events and answers as JSON lines`;

export interface DesktopIo {
  stdout: { write(chunk: string): unknown };
  stderr: { write(chunk: string): unknown };
  env: Record<string, string | undefined>;
  /** Resolves when the process is asked to stop (SIGINT/SIGTERM). */
  stopSignal?: Promise<unknown>;
}

interface State {
  deviceId: string;
  token?: string;
  userId?: string;
  leaseId?: string;
  pid?: number;
  serverUrl?: string;
}

function readState(dir: string): State {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8')) as State;
  } catch {
    return { deviceId: `tessera-desktop-${randomUUID()}` };
  }
}

function writeState(dir: string, state: State): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, 'state.json');
  fs.writeFileSync(`${file}.tmp`, JSON.stringify(state, null, 2), { mode: 0o600 });
  fs.renameSync(`${file}.tmp`, file);
}

function alive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Runs one desktop command; answers the exit code (0 done, 1 refused or failed, 2 usage). */
export async function runDesktopCommand(args: string[], io: DesktopIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        server: { type: 'string' },
        state: { type: 'string' },
        platform: { type: 'string' },
        organization: { type: 'string' },
        issuer: { type: 'string' },
        email: { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    io.stderr.write(`${(err as Error).message}\n\n${DESKTOP_USAGE}\n`);
    return 2;
  }
  const [command, ...rest] = parsed.positionals;
  if (parsed.values.help || command === 'help') {
    io.stdout.write(`${DESKTOP_USAGE}\n`);
    return 0;
  }
  if (!command || !['start', 'status', 'stop'].includes(command) || rest.length > 0) {
    io.stderr.write(`${command ? `Unknown desktop command "${[command, ...rest].join(' ')}".` : 'Name a desktop command.'}\n\n${DESKTOP_USAGE}\n`);
    return 2;
  }
  const platform = (parsed.values.platform ?? (process.platform === 'darwin' ? 'MAC' : 'WINDOWS')).toUpperCase();
  if (!['WINDOWS', 'MAC', 'CLOUD'].includes(platform)) {
    io.stderr.write(`--platform must be WINDOWS, MAC or CLOUD, not ${parsed.values.platform}\n`);
    return 2;
  }
  const dir = parsed.values.state ?? path.join(os.homedir(), '.tessera-desktop');
  const state = readState(dir);
  const serverUrl = parsed.values.server ?? state.serverUrl ?? io.env.PUBLIC_URL ?? 'http://localhost:4000';
  const json = parsed.values.json;
  const say = (human: string, data: Record<string, unknown>) => io.stdout.write(json ? `${JSON.stringify(data)}\n` : `${human}\n`);
  const client = new DesktopClient({
    serverUrl,
    deviceId: state.deviceId,
    platform: platform as Platform,
    organizationId: parsed.values.organization,
    issuer: parsed.values.issuer,
    token: state.token,
    store: new FileEntitlementStore(path.join(dir, 'entitlement.json')),
    webSocketImpl: WebSocket,
    language: io.env.LANG?.slice(0, 2).toUpperCase(),
    onEvent: (e) => describe(e, say),
  });

  try {
    switch (command) {
      case 'start': {
        if (alive(state.pid)) {
          io.stderr.write(`"desktop start" already runs for this state (pid ${state.pid}); "desktop stop" ends it.\n`);
          return 1;
        }
        if (!state.token || parsed.values.email) {
          const email = parsed.values.email;
          const password = io.env.TESSERA_PASSWORD;
          if (!email || !password) {
            io.stderr.write('Not logged in: give --email and the password in TESSERA_PASSWORD.\n');
            return 2;
          }
          const { userId } = await client.login(email, password);
          Object.assign(state, { token: client.desktopToken, userId, serverUrl });
          writeState(dir, state);
          say(`logged in as ${userId}`, { event: 'logged-in', userId });
        }
        const lease = await client.start();
        Object.assign(state, { leaseId: lease.id, pid: process.pid, serverUrl });
        writeState(dir, state);
        // Keeps the seat until asked to stop, or until the server ends the lease.
        const ended = new Promise<void>((resolve) => client.on((e) => e.type === 'ended' && e.reason !== 'TIMED_OUT' && resolve()));
        await Promise.race([io.stopSignal ?? new Promise(() => undefined), ended]);
        await client.stop();
        writeState(dir, { ...readState(dir), leaseId: undefined, pid: undefined });
        say('seat released', { event: 'released', leaseId: lease.id });
        return 0;
      }
      case 'status': {
        const { claims, offline } = await client.status();
        const running = alive(state.pid) ? `running (pid ${state.pid}, lease ${state.leaseId})` : 'not running';
        say(
          [
            `${claims.canUse ? 'may use' : 'may not use'} the app, ${claims.canSave ? 'may save' : 'may not save'}${claims.licenseId ? ` (license ${claims.licenseId})` : ''}`,
            `entitlement ${offline ? 'from the cache (server unreachable)' : 'from the server'}, valid until ${claims.expiresAt.toISOString()}`,
            `desktop start: ${running}`,
          ].join('\n'),
          { event: 'status', offline, running: alive(state.pid), ...claims },
        );
        return claims.canUse ? 0 : 1;
      }
      case 'stop': {
        if (alive(state.pid)) {
          process.kill(state.pid!, 'SIGTERM');
          const deadline = Date.now() + 20_000;
          while (alive(state.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
          if (alive(state.pid)) {
            io.stderr.write(`pid ${state.pid} did not stop within 20 s\n`);
            return 1;
          }
          say('stopped', { event: 'stopped', pid: state.pid });
          return 0;
        }
        if (state.leaseId && state.token) {
          await client.release(state.leaseId);
          writeState(dir, { ...state, leaseId: undefined, pid: undefined });
          say(`released lease ${state.leaseId}`, { event: 'released', leaseId: state.leaseId });
          return 0;
        }
        say('nothing to stop', { event: 'idle' });
        return 0;
      }
    }
  } catch (err) {
    if (err instanceof Refused) {
      io.stderr.write(`Refused: ${err.message} (${err.code}${err.reason ? `, ${err.reason}` : ''})\n`);
      return 1;
    }
    if (err instanceof NetworkError) {
      io.stderr.write(`${err.message}\n`);
      return 1;
    }
    throw err;
  }
  return 2;
}

function describe(e: ClientEvent, say: (human: string, data: Record<string, unknown>) => void): void {
  switch (e.type) {
    case 'acquired':
      say(`seat taken: lease ${e.lease.id} (${e.lease.kind}, ${e.lease.platform}), heartbeat every ${e.lease.heartbeatIntervalSeconds} s`, {
        event: 'acquired',
        leaseId: e.lease.id,
        kind: e.lease.kind,
      });
      break;
    case 'heartbeat':
      say(`heartbeat: lease ${e.lease.id} lapses ${e.lease.expiresAt ?? 'never'}`, { event: 'heartbeat', leaseId: e.lease.id, expiresAt: e.lease.expiresAt });
      break;
    case 'unreachable':
      say(`server unreachable (${e.error.message}); retrying in ${Math.round(e.retryInMs / 1000)} s`, { event: 'unreachable', retryInMs: e.retryInMs });
      break;
    case 'recovered':
      say('server reachable again', { event: 'recovered' });
      break;
    case 'ended':
      say(`lease ended: ${e.reason}${e.message ? ` (${e.message})` : ''}`, { event: 'ended', reason: e.reason });
      break;
    case 'entitlement':
      say(`entitlement verified: ${e.claims.canUse ? 'use' : 'no use'}, ${e.claims.canSave ? 'save' : 'no save'}, until ${e.claims.expiresAt.toISOString()}`, {
        event: 'entitlement',
        canUse: e.claims.canUse,
        canSave: e.claims.canSave,
        expiresAt: e.claims.expiresAt.toISOString(),
      });
      break;
  }
}
