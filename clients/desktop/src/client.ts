import { createClient, type Client as WsClient } from 'graphql-ws';
import type { JSONWebKeySet } from 'jose';
import { EntitlementRejected, JWKS_PATH, MemoryEntitlementStore, verifyEntitlement, type EntitlementClaims, type EntitlementStore } from './entitlement';
import type {
  AcquireSeatMutation,
  AcquireSeatMutationVariables,
  DesktopLeaseFragment,
  HeartbeatSeatMutation,
  HeartbeatSeatMutationVariables,
  LeaseChangedSubscription,
  LicenseStatusQuery,
  LicenseStatusQueryVariables,
  LoginMutation,
  LoginMutationVariables,
  MeQuery,
  MeQueryVariables,
  ReleaseSeatMutation,
  ReleaseSeatMutationVariables,
} from './generated/graphql';
import { NetworkError, operation, Transport, type OperationName } from './transport';

export type Platform = AcquireSeatMutationVariables['platform'];

/** A lease as the app keeps it: the `DesktopLease` fragment of the manifest's operations. */
export type Lease = DesktopLeaseFragment;

interface UserError {
  code: string;
  reason?: string | null;
  field?: string[] | null;
  message: string;
}

/** The server refused (a UserError: SEATS_EXHAUSTED, NO_LICENSE, LEASE_ENDED, INVALID_CREDENTIALS, …). Retrying does not help. */
export class Refused extends Error {
  constructor(
    readonly code: string,
    readonly reason: string | null,
    message: string,
  ) {
    super(message);
    this.name = 'Refused';
  }
}

export type ClientEvent =
  | { type: 'acquired'; lease: Lease }
  | { type: 'heartbeat'; lease: Lease }
  | { type: 'unreachable'; error: NetworkError; retryInMs: number }
  | { type: 'recovered' }
  | { type: 'ended'; reason: string; message?: string }
  | { type: 'entitlement'; claims: EntitlementClaims };

export interface DesktopClientOptions {
  /** The server's base URL (`https://licenses.example.com`). */
  serverUrl: string;
  /** A stable ID of this computer (the app keeps it). */
  deviceId: string;
  platform: Platform;
  /** An organization to draw the seat from first (R4.1). */
  organizationId?: string;
  /** A DESKTOP token from an earlier `login`. */
  token?: string;
  /** Where the verified entitlement is kept for offline use (default: memory). */
  store?: EntitlementStore;
  /** Backoff after a network error: the first wait, doubling (with jitter) up to the cap. */
  backoff?: { initialMs?: number; maxMs?: number };
  /** How long one request may take. */
  requestTimeoutMs?: number;
  /** Messages' language (EN, DE, ES). */
  language?: string;
  fetch?: typeof fetch;
  /** The WebSocket class, where there is no global one (Node 20: `require('ws')`). */
  webSocketImpl?: unknown;
  /** The `iss` of entitlements: the server's PUBLIC_URL (default: the origin of `serverUrl`). */
  issuer?: string;
  /** The time (tests). */
  now?: () => Date;
  onEvent?: (event: ClientEvent) => void;
}

type Payload = { errors: ReadonlyArray<UserError> };

/** Each operation's answer and variables, from the generated types. */
interface Operations {
  Login: [LoginMutation, LoginMutationVariables];
  AcquireSeat: [AcquireSeatMutation, AcquireSeatMutationVariables];
  HeartbeatSeat: [HeartbeatSeatMutation, HeartbeatSeatMutationVariables];
  ReleaseSeat: [ReleaseSeatMutation, ReleaseSeatMutationVariables];
  LicenseStatus: [LicenseStatusQuery, LicenseStatusQueryVariables];
  Me: [MeQuery, MeQueryVariables];
}

/**
 * The desktop app's side of the license server, as a well-behaved app must do it (R9.4):
 * - `login` with a DESKTOP token; every request by manifest hash (R9.2);
 * - `start` acquires, and after a network error retries with backoff: safe, because acquiring again
 *   for the same device answers the same lease (R4.2);
 * - heartbeats on the interval the lease names, riding out network loss until the lease would lapse,
 *   then acquiring anew once the server is back;
 * - follows `leaseChanged` over graphql-ws, so an ending (an administrator, support, a revoked license)
 *   is known at once;
 * - verifies every signed entitlement against the server's keys and caches it, so the app keeps
 *   working offline until the entitlement expires (R7.5);
 * - `stop` releases the seat.
 */
export class DesktopClient {
  private readonly transport: Transport;
  private readonly store: EntitlementStore;
  private token?: string;
  private userId?: string;
  private current?: Lease;
  private claims?: EntitlementClaims;
  private jwks?: JSONWebKeySet;
  private timer?: NodeJS.Timeout;
  private ws?: WsClient;
  private unsubscribe?: () => void;
  private running = false;
  /** Heartbeats in a row that did not reach the server. */
  private failures = 0;

  constructor(private readonly options: DesktopClientOptions) {
    this.transport = new Transport({ serverUrl: options.serverUrl, timeoutMs: options.requestTimeoutMs, fetch: options.fetch, language: options.language });
    this.store = options.store ?? new MemoryEntitlementStore();
    this.token = options.token;
  }

  /** The lease held now, if any. */
  get lease(): Lease | undefined {
    return this.current;
  }

  /** The last verified entitlement. */
  get entitlement(): EntitlementClaims | undefined {
    return this.claims;
  }

  /** The DESKTOP token (to keep for the next start). */
  get desktopToken(): string | undefined {
    return this.token;
  }

  private now(): Date {
    return this.options.now?.() ?? new Date();
  }

  private readonly listeners = new Set<(event: ClientEvent) => void>();

  /** Listens to what happens to the seat; answers how to stop listening. */
  on(listener: (event: ClientEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(event: ClientEvent): void {
    this.options.onEvent?.(event);
    for (const listener of this.listeners) listener(event);
  }

  private async run<N extends keyof Operations & OperationName>(name: N, variables: Operations[N][1]): Promise<Operations[N][0]> {
    return this.transport.run<Operations[N][0]>(name, variables, this.token);
  }

  private static refusal(payload: Payload): Refused | undefined {
    const e = payload.errors[0];
    return e ? new Refused(e.code, e.reason ?? null, e.message) : undefined;
  }

  /** Logs in with a DESKTOP token (R1.5); `Refused` with INVALID_CREDENTIALS, LOGIN_BLOCKED, … */
  async login(email: string, password: string): Promise<{ userId: string }> {
    const data = await this.run('Login', {
      email,
      password,
      deviceId: this.options.deviceId,
    });
    const refused = DesktopClient.refusal(data.login);
    if (refused) throw refused;
    this.token = data.login.token!;
    this.userId = data.login.account!.userId;
    return { userId: this.userId };
  }

  /** Who is logged in (the app's account display); null once the token no longer works. */
  async account(): Promise<MeQuery['me']> {
    return (await this.run('Me', {})).me;
  }

  /**
   * Takes a seat (R4.1), retrying after network errors with backoff; `Refused` when the server says
   * no (SEATS_EXHAUSTED, NO_LICENSE, …). Then keeps it: heartbeats and the lease subscription.
   */
  async start(options: { attempts?: number } = {}): Promise<Lease> {
    if (!this.token) throw new Error('log in first (or pass a DESKTOP token)');
    this.running = true;
    const lease = await this.acquire(options.attempts ?? 8);
    this.follow(lease);
    return lease;
  }

  private async acquire(attempts: number): Promise<Lease> {
    for (let attempt = 1; ; attempt++) {
      try {
        const data = await this.run('AcquireSeat', {
          deviceId: this.options.deviceId,
          platform: this.options.platform,
          organizationId: this.options.organizationId ?? null,
          takeover: false,
        });
        const refused = DesktopClient.refusal(data.acquireSeat);
        if (refused) throw refused;
        const lease = data.acquireSeat.lease!;
        await this.accept(lease);
        this.emit({ type: 'acquired', lease });
        return lease;
      } catch (err) {
        // A lost answer is safe to ask again: the same device gets the same lease (R4.2).
        if (!(err instanceof NetworkError) || attempt >= attempts) throw err;
        const wait = this.backoff(attempt);
        this.emit({ type: 'unreachable', error: err, retryInMs: wait });
        await delay(wait);
        if (!this.running) throw err;
      }
    }
  }

  /** Exponential backoff with full jitter, capped. */
  private backoff(attempt: number): number {
    const initial = this.options.backoff?.initialMs ?? 1_000;
    const max = this.options.backoff?.maxMs ?? 60_000;
    const ceiling = Math.min(max, initial * 2 ** (attempt - 1));
    return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
  }

  private async accept(lease: Lease): Promise<void> {
    this.current = lease;
    const token = lease.entitlement?.token;
    if (token) await this.adopt(token);
  }

  /** Verifies a token from the server (fetching the keys when one is not known yet) and caches it. */
  private async adopt(token: string): Promise<EntitlementClaims> {
    let claims: EntitlementClaims;
    try {
      claims = await this.verify(token, this.jwks ?? (await this.fetchKeys()));
    } catch (err) {
      // A key rotated since the keys were fetched: fetch them once more.
      if (!(err instanceof EntitlementRejected) || err.problem !== 'UNKNOWN_KEY') throw err;
      claims = await this.verify(token, await this.fetchKeys());
    }
    this.claims = claims;
    await this.store.save({ token, jwks: this.jwks! });
    this.emit({ type: 'entitlement', claims });
    return claims;
  }

  private verify(token: string, jwks: JSONWebKeySet): Promise<EntitlementClaims> {
    return verifyEntitlement(token, jwks, { issuer: this.issuer(), deviceId: this.options.deviceId, userId: this.userId, now: this.now() });
  }

  private issuer(): string {
    return this.options.issuer ?? new URL(this.options.serverUrl).origin;
  }

  private async fetchKeys(): Promise<JSONWebKeySet> {
    const fetchImpl = this.options.fetch ?? globalThis.fetch;
    let res: Response;
    try {
      res = await fetchImpl(new URL(JWKS_PATH, this.options.serverUrl), { signal: AbortSignal.timeout(this.options.requestTimeoutMs ?? 15_000) });
    } catch (err) {
      throw new NetworkError(`the server's keys could not be fetched (${(err as Error).message})`, err);
    }
    if (!res.ok) throw new NetworkError(`the server's keys could not be fetched (HTTP ${res.status})`);
    this.jwks = (await res.json()) as JSONWebKeySet;
    return this.jwks;
  }

  /**
   * R7.1 "check for updated license": asks the server, and verifies and caches its answer; without
   * the network, the cached entitlement as long as it has not expired (`offline: true`).
   */
  async status(): Promise<{ claims: EntitlementClaims; offline: boolean }> {
    try {
      const data = await this.run('LicenseStatus', { deviceId: this.options.deviceId });
      if (!data.licenseStatus.token) throw new EntitlementRejected('MALFORMED', 'the server sent no signed entitlement');
      return { claims: await this.adopt(data.licenseStatus.token), offline: false };
    } catch (err) {
      if (!(err instanceof NetworkError)) throw err;
      return { claims: await this.cached(), offline: true };
    }
  }

  /** The cached entitlement, verified again now (it may have expired meanwhile). */
  async cached(): Promise<EntitlementClaims> {
    const entry = await this.store.load();
    if (!entry) throw new EntitlementRejected('MALFORMED', 'no entitlement is cached: the app must reach the server once');
    this.jwks ??= entry.jwks;
    this.claims = await this.verify(entry.token, entry.jwks);
    return this.claims;
  }

  // ---------------------------------------------------------------- keeping the seat

  private follow(lease: Lease): void {
    this.schedule(lease.heartbeatIntervalSeconds * 1000);
    this.subscribe(lease.id);
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer);
    if (!this.running) return;
    this.timer = setTimeout(() => void this.beat(), ms);
  }

  private async beat(): Promise<void> {
    const lease = this.current;
    if (!this.running || !lease) return;
    try {
      const data = await this.run('HeartbeatSeat', { leaseId: lease.id });
      const refused = DesktopClient.refusal(data.heartbeatSeat);
      if (refused?.code === 'LEASE_ENDED') return this.ended(refused.reason ?? 'ENDED', refused.message);
      if (refused) throw refused;
      if (this.failures > 0) {
        this.failures = 0;
        this.emit({ type: 'recovered' });
      }
      await this.accept(data.heartbeatSeat.lease!);
      this.emit({ type: 'heartbeat', lease: data.heartbeatSeat.lease! });
      this.schedule(data.heartbeatSeat.lease!.heartbeatIntervalSeconds * 1000);
    } catch (err) {
      if (!(err instanceof NetworkError)) {
        this.ended('ERROR', (err as Error).message);
        return;
      }
      this.failures++;
      const lapse = lease.expiresAt ? new Date(lease.expiresAt).getTime() : Infinity;
      if (this.now().getTime() >= lapse) {
        // The lease has lapsed on the server's side by now: once it answers again, take a seat anew.
        this.current = undefined;
        this.emit({ type: 'ended', reason: 'TIMED_OUT', message: 'the server was out of reach longer than the lease lasts' });
        void this.reacquire();
        return;
      }
      // Sooner than the interval while unreachable, never later: the lease must not lapse for want of a try.
      const wait = Math.min(this.backoff(this.failures), lease.heartbeatIntervalSeconds * 1000);
      this.emit({ type: 'unreachable', error: err, retryInMs: wait });
      this.schedule(wait);
    }
  }

  private async reacquire(): Promise<void> {
    try {
      const lease = await this.acquire(Number.POSITIVE_INFINITY);
      this.emit({ type: 'recovered' });
      this.follow(lease);
    } catch (err) {
      if (this.running) this.ended(err instanceof Refused ? err.code : 'ERROR', (err as Error).message);
    }
  }

  private ended(reason: string, message?: string): void {
    this.running = false;
    clearTimeout(this.timer);
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    void this.ws?.dispose();
    this.ws = undefined;
    this.current = undefined;
    this.emit({ type: 'ended', reason, message });
  }

  /** `leaseChanged` (R7.3) over graphql-ws, by hash as over HTTP; reconnects by itself. */
  private subscribe(leaseId: string): void {
    this.unsubscribe?.();
    this.ws ??= createClient({
      url: this.transport.graphqlUrl.replace(/^http/, 'ws'),
      webSocketImpl: this.options.webSocketImpl,
      connectionParams: () => ({ authorization: `Bearer ${this.token}` }),
      retryAttempts: Number.POSITIVE_INFINITY,
      shouldRetry: () => true,
      lazy: true,
    });
    const op = operation('LeaseChanged');
    this.unsubscribe = this.ws.subscribe(
      // The document travels as its hash (R9.2); `query` stays empty.
      { query: '', operationName: op.name, variables: { leaseId }, extensions: { persistedQuery: { version: 1, sha256Hash: op.id } } },
      {
        next: (result) => {
          const lease = (result.data as LeaseChangedSubscription | null | undefined)?.leaseChanged;
          if (lease?.endedAt && lease.id === this.current?.id) this.ended(lease.endReason ?? 'ENDED');
        },
        error: () => undefined, // heartbeats still tell the truth; the subscription is a shortcut
        complete: () => undefined,
      },
    );
  }

  /** The app closes: the seat is released (R4.3); `logout` also logs this computer out (R4.4). */
  async stop(options: { logout?: boolean } = {}): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    await this.ws?.dispose();
    this.ws = undefined;
    const lease = this.current;
    this.current = undefined;
    if (lease) await this.release(lease.id, options);
  }

  /** Releases a lease this device holds (also one a previous run left behind); a few tries, then it lapses by itself. */
  async release(leaseId: string, options: { logout?: boolean } = {}): Promise<void> {
    for (let attempt = 1; attempt <= 3; attempt++) {
      try {
        const data = await this.run('ReleaseSeat', { leaseId, logout: options.logout ?? false });
        const refused = DesktopClient.refusal(data.releaseSeat);
        // Ended already (an administrator, a lapse): nothing left to release.
        if (refused && refused.code !== 'LEASE_ENDED') throw refused;
        return;
      } catch (err) {
        // Unreachable: the seat lapses by itself on the server's side. A refusal is the caller's to hear.
        if (!(err instanceof NetworkError)) throw err;
        if (attempt === 3) return;
        await delay(this.backoff(attempt));
      }
    }
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
