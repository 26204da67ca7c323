/**
 * Whether an error means the database could not be reached or did not answer in time (rather than
 * refusing a statement): the request fails with a generic message and the log says which.
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  const e = err as { code?: string; message?: string; driverError?: { code?: string; message?: string } } | undefined;
  if (!e || typeof e !== 'object') return false;
  const code = e.driverError?.code ?? e.code ?? '';
  const message = e.driverError?.message ?? e.message ?? '';
  if (/^(08|57P0)/.test(code) || code === '57014' || code === '55P03' || code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'ETIMEDOUT') return true;
  return /Query read timeout|timeout exceeded when trying to connect|Connection terminated|connection dropped|ECONNREFUSED|Connection timeout/i.test(message);
}
