#!/usr/bin/env node
import { runDesktopCommand } from './cli';

// `tessera-desktop start|status|stop`: the reference client played as a command.
const stop = new Promise((resolve) => {
  process.once('SIGINT', resolve);
  process.once('SIGTERM', resolve);
});
runDesktopCommand(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env, stopSignal: stop }).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`Error: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
