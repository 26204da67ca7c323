/**
 * The deployment files (Dockerfile, .dockerignore, compose.yaml, deploy/nginx.conf,
 * deploy/tessera.service, deploy/tessera.env.example), checked without a container engine: their
 * structure against the code (the settings config.ts reads, the files the server reads at start, the
 * command the tests spawn), and the image's runtime stage for real: its COPY list and its
 * `npm ci --omit=dev …` in a folder of their own, from which the server starts on a test database.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { builtinModules } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { loadConfig } from '../../src/config';
import { createTestDatabase, dropTestDatabase } from '../helpers/server';

const ROOT = path.resolve(__dirname, '../..');
const read = (rel: string) => fs.readFileSync(path.join(ROOT, rel), 'utf8');

// ---------------------------------------------------------------------------------------------
// What the code says

/** The names in the README's Configuration table (first column, `A` / `B` and `A`, `B` alike). */
function readmeSettings(): Set<string> {
  const readme = read('README.md');
  const section = readme.slice(readme.indexOf('## Configuration'));
  const table = section.slice(0, section.indexOf('\n\n', section.indexOf('|---')));
  const names = new Set<string>();
  for (const line of table.split('\n').filter((l) => l.startsWith('| `'))) {
    const first = line.split('|')[1];
    for (const m of first.matchAll(/`([A-Z][A-Z0-9_]*)`/g)) names.add(m[1]);
  }
  return names;
}

/**
 * Files the server reads from the project root at run time: every `path.join(projectRoot(), 'a', 'b')`
 * in the sources (schema/, the desktop manifest, the common passwords), package.json (how
 * projectRoot finds the root) and dist/ (the build).
 */
function runtimeFiles(): string[] {
  const files = new Set<string>(['package.json', 'dist/src/cli.js']);
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
      const rel = path.posix.join(dir, entry.name);
      if (entry.isDirectory()) {
        if (rel !== 'src/generated') walk(rel);
      } else if (rel.endsWith('.ts')) {
        for (const m of read(rel).matchAll(/path\.join\(projectRoot\(\),((?:\s*'[^']+',?)+)\)/g)) {
          files.add([...m[1].matchAll(/'([^']+)'/g)].map((p) => p[1]).join('/'));
        }
      }
    }
  };
  walk('src');
  return [...files].sort();
}

/** The command the tests' second-instance helper spawns: `node <cli> serve`, cli relative to the root. */
function testServerCommand(): string[] {
  const helper = read('test/helpers/child-server.ts');
  const cli = /const cli = path\.resolve\(__dirname, '([^']+)'\)/.exec(helper)?.[1];
  const args = /spawn\(process\.execPath, \[cli((?:, '[^']+')*)\]/.exec(helper)?.[1];
  if (!cli || args === undefined) throw new Error('test/helpers/child-server.ts no longer spawns `node <cli> …` as this test expects');
  const relCli = path
    .relative(ROOT, path.resolve(ROOT, 'test/helpers', cli))
    .split(path.sep)
    .join('/');
  return ['node', relCli, ...[...args.matchAll(/'([^']+)'/g)].map((m) => m[1])];
}

// ---------------------------------------------------------------------------------------------
// The Dockerfile

interface Instruction {
  op: string;
  args: string;
}
interface Stage {
  from: string;
  name?: string;
  instructions: Instruction[];
}

function parseDockerfile(text: string): { args: Instruction[]; stages: Stage[] } {
  const logical: string[] = [];
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (current === '' && (line === '' || line.startsWith('#'))) continue;
    if (line.startsWith('#')) continue; // a comment inside a continued instruction
    if (line.endsWith('\\')) {
      current += line.slice(0, -1) + ' ';
      continue;
    }
    logical.push(current + line);
    current = '';
  }
  const args: Instruction[] = [];
  const stages: Stage[] = [];
  for (const line of logical) {
    const m = /^(\S+)\s+([\s\S]*)$/.exec(line);
    if (!m) continue;
    const op = m[1].toUpperCase();
    const rest = m[2].trim();
    if (op === 'FROM') {
      const f = /^(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest)!;
      stages.push({ from: f[1], name: f[2], instructions: [] });
    } else if (stages.length === 0) {
      args.push({ op, args: rest });
    } else {
      stages[stages.length - 1].instructions.push({ op, args: rest });
    }
  }
  return { args, stages };
}

const execForm = (args: string): string[] => JSON.parse(args) as string[];

/** `COPY [--from=x] a b … dest` in a stage, in order. */
function copies(stage: Stage): Array<{ from?: string; sources: string[]; dest: string }> {
  return stage.instructions
    .filter((i) => i.op === 'COPY')
    .map((i) => {
      const words = i.args.split(/\s+/);
      const flags = words.filter((w) => w.startsWith('--'));
      const paths = words.filter((w) => !w.startsWith('--'));
      const from = flags.find((f) => f.startsWith('--from='))?.slice('--from='.length);
      return { from, sources: paths.slice(0, -1), dest: paths[paths.length - 1] };
    });
}

function workdir(stage: Stage, stages: Stage[]): string {
  const own = stage.instructions.filter((i) => i.op === 'WORKDIR').pop()?.args;
  if (own) return own;
  const parent = stages.find((s) => s.name === stage.from);
  return parent ? workdir(parent, stages) : '/';
}

function envOf(stage: Stage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const i of stage.instructions.filter((x) => x.op === 'ENV')) {
    for (const m of i.args.matchAll(/([A-Z_][A-Z0-9_]*)=("[^"]*"|\S+)/g)) env[m[1]] = m[2].replace(/^"|"$/g, '');
  }
  return env;
}

const dockerfile = parseDockerfile(read('Dockerfile'));
const runtime = dockerfile.stages[dockerfile.stages.length - 1];
const runtimeWorkdir = workdir(runtime, dockerfile.stages);
/** The runtime stage's `npm ci …` command (before any `&&`). */
const runtimeNpmCi = runtime.instructions
  .filter((i) => i.op === 'RUN')
  .map((i) => i.args.split('&&')[0].trim())
  .find((cmd) => cmd.startsWith('npm ci'));

/** Where a runtime COPY puts things, relative to the runtime WORKDIR. */
function runtimeDestinations(): Array<{ from?: string; source: string; dest: string }> {
  return copies(runtime).flatMap((c) =>
    c.sources.map((source) => {
      let dest = path.posix.resolve(runtimeWorkdir, c.dest);
      if (c.dest.endsWith('/') || c.sources.length > 1) dest = path.posix.join(dest, path.posix.basename(source));
      return { from: c.from, source, dest: path.posix.relative(runtimeWorkdir, dest) };
    }),
  );
}

describe('Dockerfile', () => {
  it('is multi-stage: a build stage that runs codegen and tsc, a runtime stage with production dependencies only', () => {
    expect(dockerfile.stages.length).toBeGreaterThanOrEqual(2);
    const build = dockerfile.stages.find((s) => s.instructions.some((i) => i.op === 'RUN' && /npm run build/.test(i.args)));
    expect(build).toBeDefined();
    expect(build).not.toBe(runtime);
    // package*.json before the rest, so that `npm ci` is a cached layer while the lock file does not change.
    const buildCopies = copies(build!);
    const ciIndex = build!.instructions.findIndex((i) => i.op === 'RUN' && /npm ci/.test(i.args));
    const copyAllIndex = build!.instructions.findIndex((i) => i.op === 'COPY' && /^\.\s+\.$/.test(i.args));
    expect(buildCopies[0].sources.sort()).toEqual(['package-lock.json', 'package.json']);
    expect(ciIndex).toBeGreaterThan(-1);
    expect(copyAllIndex).toBeGreaterThan(ciIndex);

    expect(runtimeNpmCi).toMatch(/--omit=dev\b/);
    expect(runtime.instructions.some((i) => i.op === 'RUN' && /npm run build|tsc|graphql-codegen/.test(i.args))).toBe(false);
    // The runtime stage's node_modules are its own (production only), never the build stage's.
    expect(runtimeDestinations().some((d) => d.from && d.dest.split('/')[0] === 'node_modules')).toBe(false);
  });

  it('uses an npm that applies package.json allowScripts (npm 11), strictly', () => {
    const pkg = JSON.parse(read('package.json')) as { allowScripts?: Record<string, boolean> };
    expect(pkg.allowScripts).toBeDefined();
    const npmVersion = dockerfile.args.find((a) => a.op === 'ARG' && a.args.startsWith('NPM_VERSION='))?.args.split('=')[1];
    expect(Number(npmVersion?.split('.')[0])).toBeGreaterThanOrEqual(11);
    for (const stage of dockerfile.stages) {
      for (const i of stage.instructions.filter((x) => x.op === 'RUN' && /npm ci/.test(x.args))) expect(i.args).toMatch(/--strict-allow-scripts/);
    }
  });

  it('runs as a non-root user, listens on every interface, stops on SIGTERM, and checks /healthz', () => {
    const user = runtime.instructions.filter((i) => i.op === 'USER').pop()?.args;
    expect(user).toBeDefined();
    expect(['root', '0', '0:0']).not.toContain(user);
    expect(envOf(runtime).HOST).toBe('0.0.0.0');
    expect(runtime.instructions.find((i) => i.op === 'STOPSIGNAL')?.args).toBe('SIGTERM');
    const health = runtime.instructions.find((i) => i.op === 'HEALTHCHECK')?.args ?? '';
    expect(health).toMatch(/CMD \[\s*"node"/);
    expect(health).toContain('/healthz');
  });

  it('starts the server with the same command the tests spawn', () => {
    const cmd = execForm(runtime.instructions.filter((i) => i.op === 'CMD').pop()!.args);
    expect(cmd).toEqual(['node', 'dist/src/cli.js', 'serve']);
    expect(cmd).toEqual(testServerCommand());
    expect(runtime.instructions.some((i) => i.op === 'ENTRYPOINT')).toBe(false);
  });

  it('copies every file the server reads at run time', () => {
    const dests = runtimeDestinations().map((d) => d.dest);
    const needed = runtimeFiles();
    expect(needed).toEqual(
      expect.arrayContaining(['schema', 'clients/desktop/persisted-operations.json', 'src/modules/accounts/common-passwords.txt', 'package.json']),
    );
    for (const file of needed) {
      const covered = dests.some((d) => d === file || file.startsWith(d + '/'));
      if (!covered) throw new Error(`the runtime stage does not COPY ${file} (read by the server at run time)`);
    }
  });
});

describe('.dockerignore', () => {
  const entries = read('.dockerignore')
    .split('\n')
    .map((l) => l.trim().replace(/\/$/, ''))
    .filter((l) => l && !l.startsWith('#'));
  it.each(['node_modules', '.data', 'dist', '.git', '.env'])('excludes %s', (name) => {
    expect(entries).toContain(name);
  });
  it('keeps what the build needs', () => {
    for (const needed of ['src', 'schema', 'migrations', 'clients', 'codegen.yml', 'package.json', 'tsconfig.json', 'tsconfig.build.json']) {
      expect(entries).not.toContain(needed);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// compose.yaml

interface ComposeService {
  image?: string;
  build?: string | { context: string };
  environment?: Record<string, string | number | boolean | null>;
  healthcheck?: { test: string[] | string };
  depends_on?: Record<string, { condition: string }>;
  volumes?: string[];
  command?: string[];
  stop_grace_period?: string;
  stop_signal?: string;
}
interface Compose {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

const composeText = read('compose.yaml');
const compose = parseYaml(composeText, { merge: true }) as Compose;
const services = compose.services;
const tesseraNames = Object.keys(services).filter((name) => {
  const build = services[name].build;
  return (typeof build === 'string' ? build : build?.context) === '.';
});

/** Compose's interpolation of `${NAME}`, `${NAME:-default}` and `${NAME:?error}`. */
function interpolate(value: string, vars: Record<string, string>): string {
  return value.replace(/\$\{([A-Z_][A-Z0-9_]*)(?::([-?])([^}]*))?\}/g, (_all, name: string, kind?: string, rest?: string) => {
    const v = vars[name];
    if (v !== undefined && v !== '') return v;
    if (kind === '?') throw new Error(`${name}: ${rest}`);
    return kind === '-' ? (rest ?? '') : '';
  });
}

const seconds = (duration: string) => Number(/^(\d+)s$/.exec(duration)?.[1] ?? NaN);

describe('compose.yaml', () => {
  it('runs two Tessera instances from the image the Dockerfile builds, PostgreSQL 17, Redis 7 and a load balancer', () => {
    expect(tesseraNames.length).toBe(2);
    const images = new Set(tesseraNames.map((n) => services[n].image));
    expect(images.size).toBe(1);
    expect(services.postgres.image).toMatch(/^postgres:17\b/);
    expect(services.redis.image).toMatch(/^redis:7\b/);
    expect(services.lb.image).toMatch(/^nginx:/);
  });

  it('has a healthcheck on every service, and starts each after what it needs is healthy', () => {
    for (const [name, svc] of Object.entries(services)) expect([name, svc.healthcheck?.test]).toEqual([name, expect.anything()]);
    for (const name of tesseraNames) {
      const deps = services[name].depends_on ?? {};
      expect(deps.postgres?.condition).toBe('service_healthy');
      expect(deps.redis?.condition).toBe('service_healthy');
      // Readiness: the instance's healthcheck asks /readyz (database reachable, migrations applied).
      expect(JSON.stringify(services[name].healthcheck?.test)).toContain('/readyz');
      // The server gives requests 30 s after SIGTERM: compose's 10 s default would cut them.
      expect(services[name].stop_signal).toBe('SIGTERM');
      expect(seconds(services[name].stop_grace_period ?? '')).toBeGreaterThan(30);
    }
    for (const name of tesseraNames) expect(services.lb.depends_on?.[name]?.condition).toBe('service_healthy');
  });

  it('keeps PostgreSQL data in a named volume', () => {
    const mount = (services.postgres.volumes ?? []).find((v) => v.endsWith(':/var/lib/postgresql/data'));
    expect(mount).toBeDefined();
    expect(Object.keys(compose.volumes ?? {})).toContain(mount!.split(':')[0]);
  });

  it('sets only real settings on the instances, the ones a cluster needs, and a configuration the server accepts', () => {
    const known = readmeSettings();
    expect(known.size).toBeGreaterThan(20);
    // The table is what the server reads: config.ts, and tracing.ts for the OpenTelemetry endpoint.
    const configSource = read('src/config.ts') + read('src/platform/tracing.ts');
    for (const name of known) expect([name, new RegExp(`\\b${name}\\b`).test(configSource)]).toEqual([name, true]);
    const vars: Record<string, string> = {
      POSTGRES_PASSWORD: 'pw',
      APP_SECRET: 'a'.repeat(40),
      SHOP_API_TOKEN: 'shop-token-0123456789abcdef',
    };
    const jobs: boolean[] = [];
    for (const name of tesseraNames) {
      const env = services[name].environment ?? {};
      for (const key of Object.keys(env)) expect([name, key, known.has(key)]).toEqual([name, key, true]);
      for (const required of ['DATABASE_URL', 'REDIS_URL', 'APP_SECRET', 'PUBLIC_URL', 'SHOP_API_TOKEN', 'TRUST_PROXY']) {
        expect([name, required, env[required] !== undefined]).toEqual([name, required, true]);
      }
      // The image's ENV, then the service's environment, as the container sees them.
      const resolved: Record<string, string> = { ...envOf(runtime) };
      for (const [key, value] of Object.entries(env)) resolved[key] = interpolate(String(value ?? ''), vars);
      const config = loadConfig(resolved);
      expect(config.databaseUrl).toMatch(/@postgres:5432\//);
      expect(config.redisUrl).toBe('redis://redis:6379');
      expect(config.host).toBe('0.0.0.0');
      expect(config.trustProxyHops).toBe(1);
      expect(config.production).toBe(true);
      expect(config.appSecret).toBe(vars.APP_SECRET);
      jobs.push(config.runJobs);
      // The secrets are required: compose refuses to start without them.
      for (const secret of ['APP_SECRET', 'SHOP_API_TOKEN', 'POSTGRES_PASSWORD']) {
        expect(() => {
          for (const value of Object.values(env)) interpolate(String(value ?? ''), { ...vars, [secret]: '' });
        }).toThrow(secret);
      }
    }
    expect(jobs.filter(Boolean).length).toBeGreaterThanOrEqual(1);
  });

  it('names every ${VARIABLE} it reads in deploy/compose.env.example', () => {
    const example = new Set([...read('deploy/compose.env.example').matchAll(/^#?\s*([A-Z_][A-Z0-9_]*)=/gm)].map((m) => m[1]));
    const uncommented = composeText.replace(/^\s*#.*$/gm, '');
    const used = new Set([...uncommented.matchAll(/\$\{([A-Z_][A-Z0-9_]*)/g)].map((m) => m[1]));
    for (const name of used) expect([name, example.has(name)]).toEqual([name, true]);
  });

  it('mounts the nginx configuration, which proxies HTTP and WebSocket upgrades to both instances', () => {
    const mount = (services.lb.volumes ?? []).find((v) => v.includes(':/etc/nginx/'));
    expect(mount).toBeDefined();
    const file = mount!.split(':')[0].replace(/^\.\//, '');
    const conf = read(file);
    const port = loadConfig(envOf(runtime)).port;
    for (const name of tesseraNames) expect(conf).toMatch(new RegExp(`server\\s+${name}:${port}\\b`));
    expect(conf).toMatch(/proxy_http_version\s+1\.1;/);
    expect(conf).toMatch(/proxy_set_header\s+Upgrade\s+\$http_upgrade;/);
    expect(conf).toMatch(/proxy_set_header\s+Connection\s+\$connection_upgrade;/);
    expect(conf).toMatch(/map\s+\$http_upgrade\s+\$connection_upgrade\s*\{[^}]*default\s+upgrade;/);
    // TRUST_PROXY=1 takes the entry the one proxy appended: it must append, not replace or pass through.
    expect(conf).toMatch(/proxy_set_header\s+X-Forwarded-For\s+\$proxy_add_x_forwarded_for;/);
    expect(conf).toMatch(/location\s+=\s+\/graphql\s*\{[^}]*proxy_pass\s+http:\/\/tessera;/);
  });
});

// ---------------------------------------------------------------------------------------------
// systemd

const unitText = read('deploy/tessera.service');
function unitDirectives(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (m) out.set(m[1], [...(out.get(m[1]) ?? []), m[2]]);
  }
  return out;
}
const unit = unitDirectives(unitText);
const one = (key: string) => unit.get(key)?.[unit.get(key)!.length - 1];
const systemdAnalyze = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' }).status === 0;

describe('deploy/tessera.service', () => {
  (systemdAnalyze ? it : it.skip)('passes systemd-analyze verify', () => {
    const run = spawnSync('systemd-analyze', ['verify', path.join(ROOT, 'deploy/tessera.service')], { encoding: 'utf8' });
    expect({ status: run.status, stderr: run.stderr.trim() }).toEqual({ status: 0, stderr: '' });
  });

  it('runs the same command as the image, as a dedicated user, from the env file, and stops gracefully', () => {
    expect(one('User')).toBe('tessera');
    expect(one('WorkingDirectory')).toMatch(/^\//);
    expect(one('EnvironmentFile')).toBe('/etc/tessera/env');
    const [exe, ...args] = one('ExecStart')!.split(/\s+/);
    expect(exe).toBe('/usr/bin/node');
    expect(['node', ...args]).toEqual(testServerCommand());
    expect(one('Restart')).toBe('on-failure');
    expect(one('KillSignal')).toBe('SIGTERM');
    // The server gives requests 30 s after SIGTERM, then closes at once: systemd must wait longer before SIGKILL.
    expect(Number(one('TimeoutStopSec'))).toBeGreaterThan(30);
  });

  it('is hardened, with DATA_DIR its one writable folder', () => {
    for (const [key, value] of [
      ['NoNewPrivileges', 'yes'],
      ['ProtectSystem', 'strict'],
      ['PrivateTmp', 'yes'],
      ['ProtectHome', 'yes'],
    ]) {
      expect([key, one(key)]).toEqual([key, value]);
    }
    const dataDir = (unit.get('Environment') ?? []).map((e) => /^DATA_DIR=(\S+)$/.exec(e)?.[1]).find(Boolean);
    expect(dataDir).toBeDefined();
    expect((one('ReadWritePaths') ?? '').split(/\s+/)).toContain(dataDir);
    // V8's JIT needs writable and executable memory.
    expect(unit.has('MemoryDenyWriteExecute')).toBe(false);
  });
});

describe('deploy/tessera.env.example', () => {
  it('lists every setting of the Configuration table, and nothing else', () => {
    const listed = new Set([...read('deploy/tessera.env.example').matchAll(/^#?([A-Z_][A-Z0-9_]*)=/gm)].map((m) => m[1]));
    expect([...listed].sort()).toEqual([...readmeSettings()].sort());
  });
});

// ---------------------------------------------------------------------------------------------
// The runtime stage for real

/** Bare module names required by the build's files reachable from `entry` (relative requires followed). */
function requiredPackages(entry: string): Set<string> {
  const seen = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    if (!file.endsWith('.js')) return;
    for (const m of fs.readFileSync(file, 'utf8').matchAll(/\brequire\(["']([^"']+)["']\)/g)) {
      const spec = m[1];
      if (spec.startsWith('.')) {
        const base = path.resolve(path.dirname(file), spec);
        const target = [base, base + '.js', path.join(base, 'index.js')].find((f) => fs.existsSync(f) && fs.statSync(f).isFile());
        if (!target) throw new Error(`${path.relative(ROOT, file)} requires ${spec}, which is not in the build`);
        visit(target);
      } else if (!spec.startsWith('node:') && !builtinModules.includes(spec.split('/')[0])) {
        packages.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]);
      }
    }
  };
  visit(entry);
  return packages;
}

describe('the runtime stage, assembled from the Dockerfile and run', () => {
  const cli = path.join(ROOT, 'dist/src/cli.js');
  let dir: string;
  let databaseUrl: string | undefined;

  beforeAll(() => {
    if (!fs.existsSync(cli)) throw new Error(`${cli} is missing: run npm run build first`);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-image-'));
  });
  afterAll(async () => {
    if (databaseUrl) await dropTestDatabase(databaseUrl);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('needs only production dependencies (the import graph of dist/src/cli.js)', () => {
    const pkg = JSON.parse(read('package.json')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
    const required = requiredPackages(cli);
    expect(required.size).toBeGreaterThan(5);
    for (const name of required) expect([name, name in pkg.dependencies]).toEqual([name, true]);
  });

  it(
    'installs with its own npm ci, and the server starts from that folder on a database and becomes ready',
    async () => {
      // The runtime stage's COPY instructions, from the work tree (the build stage's output is this checkout's build).
      for (const { from: stageName, source, dest } of runtimeDestinations()) {
        const stage = dockerfile.stages.find((st) => st.name === stageName);
        const fromStageRoot = stage ? workdir(stage, dockerfile.stages) : undefined;
        const from = path.join(ROOT, fromStageRoot ? path.posix.relative(fromStageRoot, source) : source);
        expect([source, fs.existsSync(from)]).toEqual([source, true]);
        fs.cpSync(from, path.join(dir, dest), { recursive: true });
      }
      // Exactly the image's command (it reaches the npm registry); install scripts on, as in the image.
      expect(runtimeNpmCi).toBeDefined();
      const [npm, ...npmArgs] = [...runtimeNpmCi!.split(/\s+/), '--ignore-scripts=false'];
      const install = spawnSync(npm, npmArgs, { cwd: dir, encoding: 'utf8', timeout: 300_000 });
      expect({ status: install.status, stderr: install.status === 0 ? '' : install.stderr }).toEqual({ status: 0, stderr: '' });
      expect(fs.existsSync(path.join(dir, 'node_modules/typescript'))).toBe(false);
      expect(fs.existsSync(path.join(dir, 'node_modules/@graphql-codegen'))).toBe(false);
      for (const name of requiredPackages(path.join(dir, 'dist/src/cli.js'))) {
        expect(() => require.resolve(name, { paths: [dir] })).not.toThrow();
      }

      const cmd = execForm(runtime.instructions.filter((i) => i.op === 'CMD').pop()!.args);
      const baseEnv = {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: dir,
        ...envOf(runtime),
        HOST: '127.0.0.1',
        PORT: '0',
        DATA_DIR: path.join(dir, 'data'),
        APP_SECRET: 'deploy-test-secret-0123456789-abcdefghij',
        LOG_LEVEL: 'warn',
      };

      // Without DATABASE_URL the image has no embedded PostgreSQL: the server stops and says why.
      const bare = spawnSync(process.execPath, cmd.slice(1), { cwd: dir, env: baseEnv, encoding: 'utf8', timeout: 60_000 });
      expect(bare.status).not.toBe(0);
      expect(bare.stdout + bare.stderr).toContain('DATABASE_URL');

      databaseUrl = await createTestDatabase();
      const proc = spawn(process.execPath, cmd.slice(1), { cwd: dir, env: { ...baseEnv, DATABASE_URL: databaseUrl }, stdio: ['ignore', 'pipe', 'pipe'] });
      const output: string[] = [];
      proc.stderr.on('data', (c: Buffer) => output.push(c.toString()));
      try {
        const url = await new Promise<string>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`no start line within 60 s:\n${output.join('')}`)), 60_000);
          proc.stdout.on('data', (c: Buffer) => {
            output.push(c.toString());
            const m = /Tessera GraphQL API: (\S+)/.exec(output.join(''));
            if (m) {
              clearTimeout(timer);
              resolve(m[1]);
            }
          });
          proc.once('exit', (code) => {
            clearTimeout(timer);
            reject(new Error(`the server exited (${code}):\n${output.join('')}`));
          });
        });
        const origin = new URL(url).origin;
        const deadline = Date.now() + 60_000;
        let ready = 0;
        while (Date.now() < deadline) {
          ready = (await fetch(`${origin}/readyz`).catch(() => undefined))?.status ?? 0;
          if (ready === 200) break;
          await new Promise((r) => setTimeout(r, 250));
        }
        expect(ready).toBe(200);
        expect((await fetch(`${origin}/healthz`)).status).toBe(200);
        const answer = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ __typename }' }) });
        expect(await answer.json()).toEqual({ data: { __typename: 'Query' } });
      } finally {
        const exited = new Promise<number | null>((resolve) => {
          if (proc.exitCode !== null) resolve(proc.exitCode);
          else proc.once('exit', (code) => resolve(code));
        });
        proc.kill('SIGTERM');
        // SIGTERM is a clean stop (exit 0), as under docker stop or systemctl stop.
        expect(await exited).toBe(0);
      }
    },
    8 * 60_000,
  );
});
