import fs from 'node:fs';
import path from 'node:path';

let root: string | undefined;

/** The project's root folder (where package.json is), from source (ts-jest) and from dist alike. */
export function projectRoot(): string {
  if (root) return root;
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('package.json not found above ' + __dirname);
    dir = up;
  }
  root = dir;
  return dir;
}
