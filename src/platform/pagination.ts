import { DomainError } from './errors';

/** Opaque cursors for keyset pagination: the sort key of the last row, base64url-encoded JSON. */
export function encodeCursor(values: Array<string | number>): string {
  return Buffer.from(JSON.stringify(values), 'utf8').toString('base64url');
}

export type CursorPart = 'date' | 'uuid' | 'bigint';

const PART_CHECK: Record<CursorPart, (v: unknown) => boolean> = {
  date: (v) => typeof v === 'string' && /^\d{4}-\d{2}-\d{2}T[\d:.]+Z$/.test(v) && !Number.isNaN(Date.parse(v)),
  uuid: (v) => typeof v === 'string' && /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(v),
  bigint: (v) => typeof v === 'string' && /^\d{1,18}$/.test(v),
};

/** Decodes a cursor whose parts must have the given shapes; anything else is BAD_USER_INPUT, never a database error. */
export function decodeCursor(cursor: string | null | undefined, parts: CursorPart[], field = ['after']): string[] | undefined {
  if (cursor === null || cursor === undefined || cursor === '') return undefined;
  try {
    const values = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(values) && values.length === parts.length && values.every((v, i) => PART_CHECK[parts[i]](v))) {
      return values as string[];
    }
  } catch {
    /* fall through */
  }
  throw new DomainError('BAD_USER_INPUT', { reason: 'CURSOR', field });
}

/** Page size: default 50, between 1 and 100. */
export function pageSize(first: number | null | undefined, field = ['first']): number {
  if (first === null || first === undefined) return 50;
  if (!Number.isInteger(first) || first < 1 || first > 100) throw new DomainError('BAD_USER_INPUT', { reason: 'PAGE_SIZE', field });
  return first;
}

export interface Page<T> {
  edges: Array<{ cursor: string; node: T }>;
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
  totalCount: number;
}

/** Builds a page from `size + 1` fetched rows (the extra one says whether more follow). */
export function pageOf<R, T>(rows: R[], size: number, totalCount: number, cursorOf: (row: R) => string, nodeOf: (row: R) => T): Page<T> {
  const hasNextPage = rows.length > size;
  const edges = rows.slice(0, size).map((row) => ({ cursor: cursorOf(row), node: nodeOf(row) }));
  return { edges, pageInfo: { hasNextPage, endCursor: edges.length ? edges[edges.length - 1].cursor : null }, totalCount };
}
