// Whether dist/ is missing, stale or up to date, from file times alone (no dependencies: it runs
// where only the runtime dependencies are installed). `npm run build` ends with
// `node scripts/build-state.mjs --stamp`, which writes dist/.build-stamp; the build is stale when
// any input below is newer than that stamp.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const CLI = path.join(ROOT, 'dist', 'src', 'cli.js');
export const STAMP = path.join(ROOT, 'dist', '.build-stamp');

/** What the build reads: sources, the SDL, migrations, the desktop operations, and the tools' configuration. */
const INPUT_DIRS = ['src', 'schema', 'migrations', 'clients/desktop/operations', 'clients/desktop/src'];
/** Written by the build itself (codegen), from the inputs above. */
const GENERATED = new Set(['src/generated', 'clients/desktop/src/generated'].map((p) => path.join(ROOT, p)));

function inputFiles() {
  const top = fs.readdirSync(ROOT).filter((name) => name === 'codegen.yml' || /^tsconfig.*\.json$/.test(name));
  return [...top.map((name) => path.join(ROOT, name)), ...INPUT_DIRS.map((dir) => path.join(ROOT, dir))];
}

/** The newest file (or directory: a deleted file shows as its directory's change) under `entry`. */
function newest(entry, best) {
  if (GENERATED.has(entry)) return best;
  let st;
  try {
    st = fs.statSync(entry);
  } catch {
    return best; // absent (a runtime-only install may ship without sources)
  }
  if (st.mtimeMs > best.mtimeMs) best = { file: entry, mtimeMs: st.mtimeMs };
  if (st.isDirectory()) {
    for (const name of fs.readdirSync(entry)) best = newest(path.join(entry, name), best);
  }
  return best;
}

/** The newest input, as { file, mtimeMs } (file undefined when there are none). */
export function newestInput() {
  return inputFiles().reduce((best, entry) => newest(entry, best), { file: undefined, mtimeMs: 0 });
}

/**
 * `{ kind: 'missing' }` when there is no build (or no stamp: a build from before the stamp, or an
 * interrupted one), `{ kind: 'stale', newest }` when an input changed after it, else `{ kind: 'fresh' }`.
 */
export function buildState() {
  let stamp;
  try {
    fs.accessSync(CLI);
    stamp = fs.statSync(STAMP).mtimeMs;
  } catch {
    return { kind: 'missing' };
  }
  const latest = newestInput();
  return latest.mtimeMs > stamp ? { kind: 'stale', newest: latest } : { kind: 'fresh' };
}

export function writeStamp() {
  fs.mkdirSync(path.dirname(STAMP), { recursive: true });
  fs.writeFileSync(STAMP, `${JSON.stringify({ builtAt: new Date().toISOString(), node: process.version })}\n`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  if (process.argv[2] === '--stamp') writeStamp();
  else {
    const state = buildState();
    process.stdout.write(`${state.kind}${state.newest ? ` (newest input: ${path.relative(ROOT, state.newest.file)})` : ''}\n`);
  }
}
