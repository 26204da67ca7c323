import { parse } from 'graphql';
import { MAX_NESTING, nestingDepth } from '../../src/server';

/** The nesting guard that runs before parsing (fuzz finding): strings, block strings and comments do not count, and cannot hide brackets. */
test('brackets inside strings, block strings and comments do not count', () => {
  expect(nestingDepth('{ a(x: "}}}\\"{{{") { b } }')).toBe(2);
  expect(nestingDepth('{ a # {{{{\n { b } }')).toBe(2);
  const block = '{ a(x: """ {{{ \\""" {{ """) }';
  parse(block);
  expect(nestingDepth(block)).toBe(2);
});

test('an escaped block quote cannot end the block string early and hide what follows', () => {
  const deep = `query { a(x: """\\""" """, y: ${'['.repeat(985)}1${']'.repeat(985)}) }`;
  expect(nestingDepth(deep)).toBeGreaterThan(MAX_NESTING);
});
