import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ts from 'typescript';

/**
 * Default deny, checked in the source (issue 12): every public method of every service starts with
 * an authorization decision by action name (`session.assert(…)` or `session.can(…)`), and resolvers
 * call nothing else. A method that takes no session (jobs, loaders, wiring, the command line) must be
 * named below with the reason it is safe, and no resolver may call it. A new method that does
 * neither fails this test, so it cannot ship unreviewed.
 */
const ROOT = join(__dirname, '..', '..');

/** Methods without a session, and why nothing a caller sends reaches them unchecked. */
const INTERNAL: Record<string, string> = {
  'AccountService.sessionFor': 'builds the session itself (server, pages)',
  'AccountService.sessionOf': 'builds the session itself from a bearer token',
  'AccountService.authenticate': 'reads a bearer token (server, pages, subscriptions re-checks)',
  'AccountService.clearLoginBlocks': 'support and resets call it inside their own transaction',
  'AccountService.pruneLoginThrottle': 'periodic job',
  'AccountService.byIds': 'DataLoader batch; resolvers reach it only through authorized parents',
  'AccountService.grantSupport': 'command line (operator)',
  'AccountService.erase': 'SupportService.deleteAccount calls it inside its transaction after support',
  'LicenseService.acceptInvitesWith': 'wiring at start',
  'LicenseService.status': 'derived field of a license the caller was handed',
  'LicenseService.sharable': 'derived field of a license the caller was handed',
  'LicenseService.offlineCapable': 'derived field of a license the caller was handed',
  'LicenseService.byOwners': 'DataLoader batch',
  'LicenseService.byIds': 'DataLoader batch',
  'LicenseService.sendExpiryReminders': 'periodic job',
  'OrganizationService.byIds': 'DataLoader batch',
  'SeatService.deviceHash': 'pure function of a device ID',
  'SeatService.useWaitlist': 'wiring at start',
  'SeatService.onAcquireRefused': 'metrics hook',
  'SeatService.leasesInUse': 'metrics gauge',
  'SeatService.leaseById': 'subscription re-checks of a lease already authorized',
  'SeatService.usageForListener': 'subscription pushes to a listener authorized at subscribe and re-checked',
  'SeatService.usingSeats': 'DataLoader batch',
  'SeatService.bindOffline': 'OfflineService.validate calls it after account:use',
  'SeatService.licensesOverCapacity': 'metrics gauge',
  'SeatService.sweepLapsed': 'periodic job',
  'TrialService.daysRemainingOf': 'DataLoader batch',
  'TrialService.daysRemaining': 'seat module, for a lease already authorized',
  'TrialService.onlyExpiredTrials': 'seat transactions call it under their locks',
  'TrialService.useActiveDay': 'seat transactions call it under their locks (R5.3)',
  'LicenseService.createOwned': 'TrialService.requestTrial calls it after account:use',
  'WaitlistService.entryFor': 'subscription re-checks of the caller own entry',
  'WaitlistService.promote': 'pool-change events and jobs',
  'WaitlistService.promoteAll': 'periodic job',
  'WaitlistService.fulfil': 'acquire calls it under its locks',
  'OfflineService.publicKeyDocument': 'public key (page /offline-key)',
  'WaitlistService.bus': 'event bus accessor',
  'EntitlementService.jwks': 'public keys (GET /.well-known/jwks.json)',
  'EntitlementService.rotateKey': 'command line (operator)',
  'EntitlementService.retireKeys': 'command line (operator) and jobs',
};

interface MethodInfo {
  className: string;
  name: string;
  takesSession: boolean;
  asserts: boolean;
  line: number;
  file: string;
}

function sourceOf(file: string): ts.SourceFile {
  return ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
}

const FIRST_DECISION = /^(const [^=]+ = |if \(!?\(?)?(await )?session\.(assert|can)\(/;

function methodsOf(file: string): MethodInfo[] {
  const sf = sourceOf(file);
  const found: MethodInfo[] = [];
  sf.forEachChild(function visit(node) {
    if (ts.isClassDeclaration(node) && node.name && /Service$/.test(node.name.text)) {
      for (const member of node.members) {
        if (!(ts.isMethodDeclaration(member) || ts.isGetAccessorDeclaration(member) || ts.isPropertyDeclaration(member))) continue;
        const modifiers = ts.getModifiers(member) ?? [];
        if (modifiers.some((m) => m.kind === ts.SyntaxKind.PrivateKeyword || m.kind === ts.SyntaxKind.ProtectedKeyword)) continue;
        if (modifiers.some((m) => m.kind === ts.SyntaxKind.StaticKeyword)) continue;
        if (!member.name || !ts.isIdentifier(member.name)) continue;
        // Fields are wiring (readonly core, hooks); only function-valued public fields count.
        if (ts.isPropertyDeclaration(member) && !(member.initializer && ts.isArrowFunction(member.initializer))) continue;
        const params = ts.isPropertyDeclaration(member) ? [] : member.parameters;
        const takesSession = params.length > 0 && ts.isIdentifier(params[0].name) && params[0].name.text === 'session';
        const body = ts.isPropertyDeclaration(member) ? undefined : member.body;
        const first = body?.statements[0]?.getText(sf) ?? '';
        found.push({
          className: node.name.text,
          name: member.name.text,
          takesSession,
          asserts: takesSession && FIRST_DECISION.test(first),
          line: sf.getLineAndCharacterOfPosition(member.getStart(sf)).line + 1,
          file,
        });
      }
    }
  });
  return found;
}

function serviceFiles(): string[] {
  const modules = join(ROOT, 'src', 'modules');
  const files: string[] = [];
  for (const dir of readdirSync(modules)) {
    for (const f of readdirSync(join(modules, dir))) if (/\.ts$/.test(f) && !/resolvers|entities|entity/.test(f)) files.push(join(modules, dir, f));
  }
  return files;
}

/** `Services` property → class name, from src/services.ts. */
function serviceClasses(): Map<string, string> {
  const sf = sourceOf(join(ROOT, 'src', 'services.ts'));
  const map = new Map<string, string>();
  sf.forEachChild((node) => {
    if (ts.isInterfaceDeclaration(node) && node.name.text === 'Services') {
      for (const m of node.members) {
        if (ts.isPropertySignature(m) && m.type && ts.isTypeReferenceNode(m.type) && ts.isIdentifier(m.name)) map.set(m.name.text, m.type.typeName.getText(sf));
      }
    }
  });
  return map;
}

/** Every `ctx.services.<module>.<method>` in the resolvers. */
function resolverCalls(): Array<{ service: string; method: string; file: string; line: number }> {
  const calls: Array<{ service: string; method: string; file: string; line: number }> = [];
  const modules = join(ROOT, 'src', 'modules');
  for (const dir of readdirSync(modules)) {
    for (const f of readdirSync(join(modules, dir)).filter((n) => /resolvers\.ts$/.test(n))) {
      const file = join(modules, dir, f);
      const sf = sourceOf(file);
      const visit = (node: ts.Node): void => {
        if (ts.isPropertyAccessExpression(node)) {
          const text = node.getText(sf);
          const m = /^ctx\.services\.(\w+)\.(\w+)$/.exec(text);
          if (m) calls.push({ service: m[1], method: m[2], file, line: sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1 });
        }
        ts.forEachChild(node, visit);
      };
      visit(sf);
    }
  }
  return calls;
}

const methods = serviceFiles().flatMap(methodsOf);
const byKey = new Map(methods.map((m) => [`${m.className}.${m.name}`, m]));

test('every public service method that takes a session starts with session.assert(…) or session.can(…)', () => {
  const missing = methods.filter((m) => m.takesSession && !m.asserts).map((m) => `${m.className}.${m.name} (${m.file}:${m.line})`);
  expect(missing).toEqual([]);
});

test('every public service method without a session is listed as internal, with a reason', () => {
  const unlisted = methods.filter((m) => !m.takesSession && !INTERNAL[`${m.className}.${m.name}`]).map((m) => `${m.className}.${m.name} (${m.file}:${m.line})`);
  expect(unlisted).toEqual([]);
  // And the list names only what exists.
  const stale = Object.keys(INTERNAL).filter((k) => !byKey.has(k));
  expect(stale).toEqual([]);
});

test('resolvers call only service methods that decide first (derived fields of what they were handed excepted)', () => {
  const classes = serviceClasses();
  const derived = new Set(['LicenseService.status', 'LicenseService.sharable', 'LicenseService.offlineCapable']);
  const calls = resolverCalls();
  expect(calls.length).toBeGreaterThan(40);
  const unchecked = calls
    .map((c) => ({ ...c, key: `${classes.get(c.service)}.${c.method}` }))
    .filter((c) => !byKey.get(c.key)?.asserts && !derived.has(c.key))
    .map((c) => `${c.key} (${c.file}:${c.line})`);
  expect(unchecked).toEqual([]);
});

test('the checker itself finds a method without a decision, and one without a session', () => {
  const dir = mkdtempSync(join(tmpdir(), 'authz-'));
  const file = join(dir, 'fixture.ts');
  writeFileSync(
    file,
    `export class FixtureService {
      async open(session: Session, id: string) { return id; }
      async shut(session: Session) { await session.assert('public'); }
      async peek(session: Session) { const ok = await session.can('support'); return ok; }
      internal(id: string) { return id; }
      private hidden(session: Session) { return session; }
    }`,
  );
  const found = methodsOf(file).map((m) => [m.name, m.takesSession, m.asserts]);
  expect(found).toEqual([
    ['open', true, false],
    ['shut', true, true],
    ['peek', true, true],
    ['internal', false, false],
  ]);
});
