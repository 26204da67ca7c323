import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Kind, parse, validate } from 'graphql';
import WebSocket from 'ws';
import * as generated from '../../clients/desktop/src/generated/graphql';
import { PersistedOperations, manifestPath, type ManifestOperation } from '../../src/platform/graphql/persisted';
import { projectRoot } from '../../src/platform/paths';
import { buildSchema } from '../../src/server';
import { issueLicense, join, login, newAccount, newOrganization, type NewAccount } from '../helpers/factories';
import { startTestServer, type TestServer } from '../helpers/server';
import { wsClient } from '../helpers/ws';

/**
 * The desktop app's trusted operations (R9.1–R9.3): the manifest the build makes, requests that name
 * an operation by hash over HTTP and the WebSocket, and DESKTOP tokens that run nothing else.
 */

const root = projectRoot();
const manifest = JSON.parse(fs.readFileSync(manifestPath(), 'utf8')) as { format: string; version: number; operations: ManifestOperation[] };
const op = (name: string): ManifestOperation => {
  const found = manifest.operations.find((o) => o.name === name);
  if (!found) throw new Error(`no ${name} in the manifest`);
  return found;
};
const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');
const UNKNOWN = sha256('no such operation');

let t: TestServer;
let user: NewAccount;
let desktop: string;
beforeAll(async () => {
  t = await startTestServer();
  user = await newAccount(t);
  await issueLicense(t, { seats: 1, platforms: ['WINDOWS', 'MAC'], redeemForUserId: user.account.userId });
  const r = await login(t, user.email, user.password, { client: 'DESKTOP' });
  if (!r.token) throw new Error(`desktop login failed: ${JSON.stringify(r)}`);
  desktop = r.token;
});
afterAll(async () => {
  await t?.stop();
});

interface Answer {
  status: number;
  body: { data?: Record<string, any> | null; errors?: Array<{ message: string; extensions?: Record<string, unknown> }> };
}

async function post(body: unknown, token?: string, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await fetch(t.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Answer['body'] };
}

async function get(params: Record<string, string>, token?: string): Promise<Answer> {
  const res = await fetch(`${t.url}?${new URLSearchParams(params).toString()}`, {
    headers: { 'apollo-require-preflight': 'true', ...(token ? { authorization: `Bearer ${token}` } : {}) },
  });
  return { status: res.status, body: (await res.json()) as Answer['body'] };
}

const byDocumentId = (name: string, variables: Record<string, unknown> = {}) => ({ documentId: `sha256:${op(name).id}`, variables });
const byApolloHash = (name: string, variables: Record<string, unknown> = {}) => ({
  variables,
  extensions: { persistedQuery: { version: 1, sha256Hash: op(name).id } },
});
const codeOf = (a: Answer) => a.body.errors?.[0]?.extensions?.code;

/** One operation over a raw graphql-transport-ws socket: the payload exactly as given (no `query` needed). */
async function wsOnce(token: string | undefined, payload: Record<string, unknown>): Promise<{ next: any[]; error?: any[]; complete: boolean }> {
  const socket = new WebSocket(t.url.replace(/^http/, 'ws'), 'graphql-transport-ws');
  const out: { next: any[]; error?: any[]; complete: boolean } = { next: [], complete: false };
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer over the WebSocket: ${JSON.stringify(out)}`)), 10_000);
      socket.on('error', reject);
      socket.on('close', (code, reason) => reject(new Error(`socket closed ${code} ${reason.toString()}`)));
      socket.on('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: token ? { authorization: `Bearer ${token}` } : {} })));
      socket.on('message', (data: Buffer) => {
        const message = JSON.parse(data.toString()) as { type: string; payload?: any };
        if (message.type === 'connection_ack') socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload }));
        else if (message.type === 'next') out.next.push(message.payload);
        else if (message.type === 'error' || message.type === 'complete') {
          if (message.type === 'error') out.error = message.payload as any[];
          out.complete = message.type === 'complete';
          clearTimeout(timer);
          resolve();
        }
      });
    });
  } finally {
    socket.removeAllListeners('close');
    socket.close();
  }
  return out;
}

describe('the manifest (R9.1)', () => {
  test("is Apollo's format, each id the SHA-256 of its body, and holds every operation of clients/desktop/operations with its fragments", () => {
    expect(manifest.format).toBe('apollo-persisted-query-manifest');
    expect(manifest.version).toBe(1);
    const schema = buildSchema();
    for (const o of manifest.operations) {
      expect(o.id).toMatch(/^[0-9a-f]{64}$/);
      expect(o.id).toBe(sha256(o.body));
      const document = parse(o.body);
      const [operation] = document.definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION);
      expect(operation).toMatchObject({ name: { value: o.name }, operation: o.type });
      // Self-contained: its fragments are in the body, and it validates against the schema as it is.
      expect(validate(schema, document)).toEqual([]);
    }
    const dir = path.join(root, 'clients/desktop/operations');
    const names = fs
      .readdirSync(dir)
      .filter((f) => f.endsWith('.graphql'))
      .flatMap((f) => parse(fs.readFileSync(path.join(dir, f), 'utf8')).definitions)
      .flatMap((d) => (d.kind === Kind.OPERATION_DEFINITION && d.name ? [d.name.value] : []));
    expect(names.sort()).toEqual(manifest.operations.map((o) => o.name).sort());
    // The contract's names, and Me (the app's account display).
    expect(names.sort()).toEqual(
      ['AcquireSeat', 'HeartbeatSeat', 'LeaseChanged', 'LicenseStatus', 'Login', 'Logout', 'LogoutEverywhere', 'Me', 'ReleaseSeat', 'ReserveOffline'].sort(),
    );
    expect(op('LeaseChanged').type).toBe('subscription');
    expect(op('AcquireSeat').body).toContain('fragment DesktopLease on SeatLease');
  });

  test("the typed documents for the client carry the manifest's ids, and the server loads the manifest", () => {
    const documents = generated as unknown as Record<string, { __meta__?: { hash?: string } }>;
    for (const o of manifest.operations) expect(documents[`${o.name}Document`].__meta__?.hash).toBe(`sha256:${o.id}`);
    expect(PersistedOperations.load(manifestPath(), buildSchema()).size).toBe(manifest.operations.length);
  });

  test('a manifest that is missing, tampered with or no longer valid against the schema stops the server from starting', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-manifest-'));
    try {
      expect(() => PersistedOperations.load(path.join(dir, 'missing.json'))).toThrow(/cannot be read.*npm run build/);
      const write = (operations: ManifestOperation[]) => {
        const file = path.join(dir, 'm.json');
        fs.writeFileSync(file, JSON.stringify({ format: 'apollo-persisted-query-manifest', version: 1, operations }));
        return file;
      };
      const logout = op('Logout');
      expect(() => PersistedOperations.load(write([{ ...logout, body: logout.body.replace('ok', 'ok ok') }]))).toThrow(/not the SHA-256/);
      const stale = logout.body.replace('ok', 'okay');
      expect(() => PersistedOperations.load(write([{ ...logout, id: sha256(stale), body: stale }]), buildSchema())).toThrow(/does not validate.*okay/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a document that does not validate against the schema fails the generation (and so the build)', async () => {
    // The repository's codegen.yml in a scratch copy: the real schema, the real documents and one bad one.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-codegen-'));
    try {
      fs.symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'));
      fs.symlinkSync(path.join(root, 'schema'), path.join(dir, 'schema'));
      fs.copyFileSync(path.join(root, 'codegen.yml'), path.join(dir, 'codegen.yml'));
      fs.cpSync(path.join(root, 'clients/desktop/operations'), path.join(dir, 'clients/desktop/operations'), { recursive: true });
      fs.writeFileSync(
        path.join(dir, 'clients/desktop/operations/Broken.graphql'),
        'query Broken($deviceId: String!) { licenseStatus(deviceId: $deviceId) { canUse noSuchField } }\n',
      );
      // Codegen's task list says nothing of its errors under NODE_ENV=test (as jest sets it).
      const env = { ...process.env };
      delete env.NODE_ENV;
      const run = promisify(execFile)(process.execPath, [path.join(root, 'node_modules/@graphql-codegen/cli/cjs/bin.js'), '--config', 'codegen.yml'], {
        cwd: dir,
        env,
      });
      const failure = await run.then(
        () => 'generated',
        (err: { stdout?: string; stderr?: string }) => `${err.stdout ?? ''}${err.stderr ?? ''}`,
      );
      expect(failure).toMatch(/Cannot query field "noSuchField" on type "Entitlement"/);
      expect(fs.existsSync(path.join(dir, 'clients/desktop/src/generated/persisted-documents.json'))).toBe(false);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('a DESKTOP token runs manifest operations by hash, and nothing else (R9.2, R9.3)', () => {
  test('over HTTP, both request forms: AcquireSeat, HeartbeatSeat, LicenseStatus (POST and GET)', async () => {
    const acquired = await post(byDocumentId('AcquireSeat', { deviceId: 'desk-http', platform: 'WINDOWS' }), desktop);
    expect(acquired.status).toBe(200);
    expect(acquired.body.errors).toBeUndefined();
    const lease = acquired.body.data!.acquireSeat.lease as { id: string; heartbeatIntervalSeconds: number };
    expect(acquired.body.data!.acquireSeat.errors).toEqual([]);
    expect(lease.heartbeatIntervalSeconds).toBeGreaterThan(0);

    const beat = await post(byApolloHash('HeartbeatSeat', { leaseId: lease.id }), desktop);
    expect(beat.status).toBe(200);
    expect(beat.body.data!.heartbeatSeat).toMatchObject({ errors: [], lease: { id: lease.id } });

    // The hash with the query it names, and an operationName: the same.
    const both = await post(
      { ...byApolloHash('HeartbeatSeat', { leaseId: lease.id }), query: op('HeartbeatSeat').body, operationName: 'HeartbeatSeat' },
      desktop,
    );
    expect(both.body.data!.heartbeatSeat.errors).toEqual([]);

    for (const params of <Array<Record<string, string>>>[
      { documentId: `sha256:${op('LicenseStatus').id}`, variables: JSON.stringify({ deviceId: 'desk-http' }) },
      { extensions: JSON.stringify(byApolloHash('LicenseStatus').extensions), variables: JSON.stringify({ deviceId: 'desk-http' }) },
    ]) {
      const status = await get(params, desktop);
      expect(status.status).toBe(200);
      expect(status.body.data!.licenseStatus.canUse).toBe(true);
    }
    // A mutation named by hash over GET is still a mutation: GET serves only queries.
    const mutationByGet = await get({ documentId: `sha256:${op('HeartbeatSeat').id}`, variables: JSON.stringify({ leaseId: lease.id }) }, desktop);
    expect(mutationByGet.status).toBe(405);
    await post(byDocumentId('ReleaseSeat', { leaseId: lease.id }), desktop);
  });

  test('a document sent as text is PERSISTED_QUERY_REQUIRED (400), even the text of a manifest operation, over POST and GET', async () => {
    for (const body of [
      { query: '{ me { id } }' },
      { query: op('LicenseStatus').body, variables: { deviceId: 'x' } },
      { query: '{ me { id } }', extensions: { other: true } },
    ]) {
      const r = await post(body, desktop);
      expect(r.status).toBe(400);
      expect(codeOf(r)).toBe('PERSISTED_QUERY_REQUIRED');
      expect(r.body.data).toBeUndefined();
    }
    // A client that accepts application/json only hears request errors with 200 (GraphQL over HTTP's legacy rule).
    const legacy = await post({ query: '{ me { id } }' }, desktop, { accept: 'application/json' });
    expect(legacy.status).toBe(200);
    expect(codeOf(legacy)).toBe('PERSISTED_QUERY_REQUIRED');
    const viaGet = await get({ query: '{ me { id } }' }, desktop);
    expect(viaGet.status).toBe(400);
    expect(codeOf(viaGet)).toBe('PERSISTED_QUERY_REQUIRED');
    // Nothing ran: the token still works, for manifest operations.
    const status = await post(byDocumentId('LicenseStatus', { deviceId: 'x' }), desktop);
    expect(status.body.data!.licenseStatus).toBeDefined();
  });

  test('over the WebSocket, both forms without `query`: LeaseChanged (the subscription) and HeartbeatSeat', async () => {
    // A member's seat, which the organization's administrator can end.
    const { owner: admin, organization } = await newOrganization(t, { seats: 2 });
    const member = await newAccount(t);
    await join(t, member.token, organization.inviteCode);
    const app = (await login(t, member.email, member.password, { client: 'DESKTOP' })).token!;
    const first = await post(byDocumentId('AcquireSeat', { deviceId: 'desk-ws-1', platform: 'WINDOWS', organizationId: organization.id }), app);
    const lease = first.body.data!.acquireSeat.lease as { id: string };
    const beat = await wsOnce(app, byDocumentId('HeartbeatSeat', { leaseId: lease.id }));
    expect(beat.error).toBeUndefined();
    expect(beat.next[0].data.heartbeatSeat).toMatchObject({ errors: [], lease: { id: lease.id } });
    // The administrator ends the seat; its subscription tells so (a lease already ended is told at
    // once and the subscription completes: no waiting for it to be in place).
    const ended = await t.gql('mutation($id: ID!) { endSeat(leaseId: $id) { errors { code } } }', { id: lease.id }, { token: admin.token });
    expect(ended.data!.endSeat.errors).toEqual([]);
    for (const payload of [byDocumentId('LeaseChanged', { leaseId: lease.id }), byApolloHash('LeaseChanged', { leaseId: lease.id })]) {
      const changed = await wsOnce(app, payload);
      expect(changed.error).toBeUndefined();
      expect(changed.next[0].data.leaseChanged).toMatchObject({ id: lease.id, endReason: 'ENDED_BY_ADMIN' });
      expect(changed.complete).toBe(true);
    }
    // graphql-ws's own client must send a string `query`: an empty one with the hash is the same request.
    const client = wsClient(t.url, app);
    try {
      const result = await new Promise<any>((resolve, reject) => {
        client.subscribe({ query: '', ...byApolloHash('LeaseChanged', { leaseId: lease.id }) }, { next: resolve, error: reject, complete: () => undefined });
      });
      expect(result.data.leaseChanged.endReason).toBe('ENDED_BY_ADMIN');
    } finally {
      await client.dispose();
    }
  });

  test('over the WebSocket, a document sent as text is PERSISTED_QUERY_REQUIRED, for that operation alone', async () => {
    const refused = await wsOnce(desktop, { query: 'subscription($id: ID!) { leaseChanged(leaseId: $id) { id } }', variables: { id: UNKNOWN } });
    expect(refused.error?.[0].extensions.code).toBe('PERSISTED_QUERY_REQUIRED');
    const asQuery = await wsOnce(desktop, { query: op('LicenseStatus').body, variables: { deviceId: 'x' } });
    expect(asQuery.error?.[0].extensions.code).toBe('PERSISTED_QUERY_REQUIRED');
  });
});

describe('unknown and mismatched hashes', () => {
  test('an unknown hash is PERSISTED_QUERY_NOT_FOUND, in both forms, over HTTP and the WebSocket, for any client', async () => {
    for (const token of [desktop, user.token, undefined]) {
      for (const body of [
        { documentId: `sha256:${UNKNOWN}` },
        { extensions: { persistedQuery: { version: 1, sha256Hash: UNKNOWN } } },
        { documentId: 'x-custom-id' },
      ]) {
        const r = await post(body, token);
        expect(r.status).toBe(400);
        expect(codeOf(r)).toBe('PERSISTED_QUERY_NOT_FOUND');
      }
      const viaGet = await get({ documentId: `sha256:${UNKNOWN}` }, token);
      expect(codeOf(viaGet)).toBe('PERSISTED_QUERY_NOT_FOUND');
      for (const payload of [{ documentId: `sha256:${UNKNOWN}` }, { query: '', extensions: { persistedQuery: { version: 1, sha256Hash: UNKNOWN } } }]) {
        const ws = await wsOnce(token, payload);
        expect(ws.error?.[0].extensions.code).toBe('PERSISTED_QUERY_NOT_FOUND');
      }
    }
  });

  test('a hash sent with a query it is not the SHA-256 of is 400 BAD_REQUEST (PERSISTED_QUERY_HASH_MISMATCH), never 5xx', async () => {
    for (const token of [desktop, user.token]) {
      for (const body of [
        { query: '{ me { id } }', extensions: { persistedQuery: { version: 1, sha256Hash: op('LicenseStatus').id } } },
        { query: '{ me { id } }', documentId: `sha256:${op('LicenseStatus').id}` },
        { query: '{ __typename }', extensions: { persistedQuery: { version: 1, sha256Hash: 'abc' } } },
      ]) {
        const r = await post(body, token);
        expect(r.status).toBe(400);
        expect(r.body.errors![0].extensions).toMatchObject({ code: 'BAD_REQUEST', reason: 'PERSISTED_QUERY_HASH_MISMATCH' });
      }
      const ws = await wsOnce(token, { query: '{ me { id } }', documentId: `sha256:${op('LicenseStatus').id}` });
      expect(ws.error?.[0].extensions).toMatchObject({ code: 'BAD_REQUEST', reason: 'PERSISTED_QUERY_HASH_MISMATCH' });
    }
    // Malformed persisted-query fields are the client's too.
    for (const body of [
      { extensions: { persistedQuery: { version: 2, sha256Hash: op('Logout').id } } },
      { extensions: { persistedQuery: { version: 1, sha256Hash: 5 } } },
      { documentId: 5 },
      { documentId: `sha256:${op('Logout').id}`, extensions: { persistedQuery: { version: 1, sha256Hash: op('Login').id } } },
    ]) {
      const r = await post(body, desktop);
      expect(r.status).toBe(400);
      expect(codeOf(r)).toBe('BAD_REQUEST');
    }
  });
});

describe('WEB and anonymous clients (R9.3)', () => {
  test('may send documents, and may name manifest operations by hash, over HTTP and the WebSocket', async () => {
    const me = await post({ query: '{ me { id } }' }, user.token);
    expect(me.body.data!.me.id).toBe(user.account.id);
    const anonymous = await post({ query: '{ me { id } }' });
    expect(anonymous.body.data!.me).toBeNull();
    for (const body of [byDocumentId('LicenseStatus', { deviceId: 'web' }), byApolloHash('LicenseStatus', { deviceId: 'web' })]) {
      const r = await post(body, user.token);
      expect(r.status).toBe(200);
      expect(r.body.data!.licenseStatus.canUse).toBe(true);
    }
    const ws = await wsOnce(user.token, { query: '{ me { id } }' });
    expect(ws.next[0].data.me.id).toBe(user.account.id);
    const wsByHash = await wsOnce(user.token, byDocumentId('LicenseStatus', { deviceId: 'web' }));
    expect(wsByHash.next[0].data.licenseStatus.canUse).toBe(true);
  });

  test('nobody registers documents: a correct hash of a document outside the manifest runs it once, and the hash alone stays unknown', async () => {
    const query = '{ me { id email } }';
    const sent = await post({ query, extensions: { persistedQuery: { version: 1, sha256Hash: sha256(query) } } }, user.token);
    expect(sent.status).toBe(200);
    expect(sent.body.data!.me.id).toBe(user.account.id);
    const later = await post({ extensions: { persistedQuery: { version: 1, sha256Hash: sha256(query) } } }, user.token);
    expect(codeOf(later)).toBe('PERSISTED_QUERY_NOT_FOUND');
    // The same from a desktop app is a document of its own: refused.
    const fromDesktop = await post({ query, documentId: `sha256:${sha256(query)}` }, desktop);
    expect(codeOf(fromDesktop)).toBe('PERSISTED_QUERY_REQUIRED');
  });

  test('a document named by hash meets the same limits as one sent as text (aliases, here)', async () => {
    const deep = `{ ${Array.from({ length: 20 }, (_, i) => `a${i}: me { id }`).join(' ')} }`;
    const plain = await post({ query: deep }, user.token);
    const hashed = await post({ query: deep, extensions: { persistedQuery: { version: 1, sha256Hash: sha256(deep) } } }, user.token);
    expect(plain.status).toBe(400);
    expect(hashed.status).toBe(400);
    expect(codeOf(hashed)).toBe(codeOf(plain));
    expect(codeOf(hashed)).toBe('GRAPHQL_VALIDATION_FAILED');
  });
});
