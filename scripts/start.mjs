// `npm start` and `npm run tessera -- <command>`: builds dist/ only when it is missing or stale (see
// build-state.mjs), then runs the built command line in this very process. There is no child to
// forward signals to, and no parent shell in between (the npm scripts `exec` this file), so a
// SIGTERM or SIGINT sent to npm, which npm passes on, or to this process, reaches the server itself.
//
// With only the runtime dependencies installed (npm ci --omit=dev) it never builds: a present build
// is run as it is (with a warning when its sources look newer), a missing one is an error that says
// what to do.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildState, CLI, ROOT } from './build-state.mjs';

const args = process.argv.slice(2);

function say(message) {
  // stderr: the one-off commands' stdout holds only their answer.
  process.stderr.write(`tessera: ${message}\n`);
}

/** Whether the build's tools (dev dependencies) are installed. */
function devToolsInstalled() {
  const require = createRequire(path.join(ROOT, 'package.json'));
  try {
    require.resolve('typescript/package.json');
    require.resolve('@graphql-codegen/cli/package.json');
    return true;
  } catch {
    return false;
  }
}

/** `npm run build`, its output on stderr; a signal received meanwhile stops it and then us. */
function build() {
  const npmCli = process.env.npm_execpath;
  const [command, commandArgs] =
    npmCli && /\.[cm]?js$/.test(npmCli) ? [process.execPath, [npmCli, 'run', 'build', '--silent']] : ['npm', ['run', 'build', '--silent']];
  return new Promise((resolve) => {
    const child = spawn(command, commandArgs, { cwd: ROOT, stdio: ['ignore', 2, 2], shell: process.platform === 'win32' });
    const forward = (signal) => child.kill(signal);
    const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'];
    for (const signal of signals) process.on(signal, forward);
    child.once('error', (err) => {
      say(`could not run npm run build: ${err.message}`);
      resolve(1);
    });
    child.once('exit', (code, signal) => {
      for (const s of signals) process.removeListener(s, forward);
      resolve(signal ? 128 + ({ SIGHUP: 1, SIGINT: 2, SIGTERM: 15 }[signal] ?? 0) : (code ?? 1));
    });
  });
}

const state = buildState();
if (state.kind !== 'fresh') {
  const why = state.kind === 'missing' ? 'there is no build yet' : `${path.relative(ROOT, state.newest.file)} changed since the last build`;
  if (devToolsInstalled()) {
    say(`${why}: building (npm run build)`);
    const code = await build();
    if (code !== 0) {
      say(`the build failed (exit ${code})`);
      process.exit(code);
    }
  } else if (state.kind === 'missing') {
    say(
      'there is no build (dist/) and the tools to make one are not installed (dev dependencies). ' +
        'Run "npm ci && npm run build" here, or build on a machine with the dev dependencies and ship dist/ with the runtime ones.',
    );
    process.exit(1);
  } else {
    say(`warning: ${why}, but the dev dependencies that build it are not installed: running the existing build. Run "npm run build" where they are.`);
  }
}

if (args[0] === 'serve') {
  // A hang-up (the terminal closed) stops the server as SIGTERM does: gracefully, database included.
  process.on('SIGHUP', () => process.kill(process.pid, 'SIGTERM'));
}
// The command line reads its command from process.argv, as if run as `node dist/src/cli.js …`.
process.argv = [process.argv[0], CLI, ...args];
await import(pathToFileURL(CLI).href);
