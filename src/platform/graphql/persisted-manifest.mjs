// Writes the desktop app's persisted-operations manifest (R9.1) in Apollo's format from what GraphQL
// Codegen's client preset made of clients/desktop/operations/*.graphql (persisted-documents.json: each
// operation with the fragments it uses, printed canonically, keyed by `sha256:<hex>` of that text).
// Part of `npm run codegen` (so of the build); codegen has already validated the documents against
// schema/*.graphql and fails before this runs when one does not. Plain JavaScript: it runs before
// anything is compiled.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kind, parse } from 'graphql';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const PERSISTED_DOCUMENTS = path.join(root, 'clients/desktop/src/generated/persisted-documents.json');
export const MANIFEST = path.join(root, 'clients/desktop/persisted-operations.json');

/**
 * Apollo's persisted query manifest of `documents` (`{ "sha256:<hex>": body }`): one entry per
 * operation, sorted by name, `id` the lowercase hex SHA-256 of `body`. Throws when a key is not the
 * hash of its body, a body holds other than one named operation, or two operations share a name.
 */
export function manifestOf(documents) {
  const operations = [];
  const names = new Set();
  for (const [key, body] of Object.entries(documents)) {
    const id = createHash('sha256').update(body, 'utf8').digest('hex');
    if (key !== `sha256:${id}`) throw new Error(`persisted document ${key}: its body hashes to sha256:${id}`);
    const ops = parse(body).definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION);
    if (ops.length !== 1 || !ops[0].name) throw new Error(`persisted document ${key}: expected one named operation, found ${ops.length}`);
    const name = ops[0].name.value;
    if (names.has(name)) throw new Error(`two desktop operations are named ${name}`);
    names.add(name);
    operations.push({ id, name, type: ops[0].operation, body });
  }
  operations.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { format: 'apollo-persisted-query-manifest', version: 1, operations };
}

export function writeManifest(from = PERSISTED_DOCUMENTS, to = MANIFEST) {
  const manifest = manifestOf(JSON.parse(fs.readFileSync(from, 'utf8')));
  fs.writeFileSync(to, `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const manifest = writeManifest();
  console.log(`${path.relative(process.cwd(), MANIFEST)}: ${manifest.operations.map((o) => o.name).join(', ')}`);
}
