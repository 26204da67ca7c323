import manifest from '../persisted-operations.json';

/** The names of the desktop app's operations (R9.1), as the manifest lists them. */
export type OperationName =
  'Login' | 'AcquireSeat' | 'HeartbeatSeat' | 'ReleaseSeat' | 'ReserveOffline' | 'LicenseStatus' | 'Logout' | 'LogoutEverywhere' | 'LeaseChanged' | 'Me';

interface ManifestOperation {
  id: string;
  name: string;
  type: string;
  body: string;
}

const byName = new Map((manifest as { operations: ManifestOperation[] }).operations.map((op) => [op.name, op]));

/** The manifest's entry of an operation: its SHA-256 `id` is what the app sends (R9.2). */
export function operation(name: OperationName): ManifestOperation {
  const op = byName.get(name);
  if (!op) throw new Error(`the persisted-operations manifest has no operation ${name}: rebuild the client`);
  return op;
}

/** A failure to reach the server or to read its answer: the request may or may not have been carried out. */
export class NetworkError extends Error {
  constructor(
    message: string,
    override readonly cause?: unknown,
  ) {
    super(message);
    this.name = 'NetworkError';
  }
}

/** The server answered with GraphQL errors (`extensions.code`: UNAUTHENTICATED, PERSISTED_QUERY_REQUIRED, …). */
export class ServerError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
  ) {
    super(`${code}: ${message}`);
    this.name = 'ServerError';
  }
}

export interface TransportOptions {
  /** The server's base URL (`https://licenses.example.com`); the API is at `/graphql`. */
  serverUrl: string;
  /** How long one request may take before it counts as a network error. */
  timeoutMs?: number;
  fetch?: typeof fetch;
  /** The `Accept-Language` of messages (EN, DE, ES). */
  language?: string;
}

/**
 * Runs manifest operations over HTTP by their hash (`documentId: "sha256:<id>"`): the app never sends a
 * document, and a DESKTOP token may run nothing else (R9.3).
 */
export class Transport {
  private readonly fetch: typeof fetch;
  readonly graphqlUrl: string;

  constructor(private readonly options: TransportOptions) {
    this.fetch = options.fetch ?? globalThis.fetch;
    this.graphqlUrl = new URL('/graphql', options.serverUrl).toString();
  }

  async run<T>(name: OperationName, variables: object, token?: string): Promise<T> {
    const op = operation(name);
    let res: Response;
    let text: string;
    try {
      res = await this.fetch(this.graphqlUrl, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json',
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(this.options.language ? { 'accept-language': this.options.language } : {}),
        },
        body: JSON.stringify({ documentId: `sha256:${op.id}`, operationName: op.name, variables }),
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 15_000),
      });
      text = await res.text();
    } catch (err) {
      throw new NetworkError(`${name}: the server could not be reached (${(err as Error).message})`, err);
    }
    let body: { data?: Record<string, unknown> | null; errors?: Array<{ message: string; extensions?: { code?: string } }> };
    try {
      body = JSON.parse(text) as typeof body;
    } catch (err) {
      // A proxy's error page, a truncated answer: whether the server acted is unknown.
      throw new NetworkError(`${name}: the answer (HTTP ${res.status}) is not GraphQL`, err);
    }
    const first = body.errors?.[0];
    if (first) throw new ServerError(first.extensions?.code ?? 'INTERNAL_SERVER_ERROR', first.message, res.status);
    if (res.status >= 500) throw new NetworkError(`${name}: HTTP ${res.status}`);
    return body.data as T;
  }
}
