/**
 * The offline request (R6.2): the app writes an HTML file that takes a browser on any online
 * computer to `<serverUrl>/offline?request=<payload>`. The server parses it with
 * {@link parseOfflineRequest}, the same function the app side uses.
 */
import { randomBytes } from 'node:crypto';
import {
  OFFLINE_FORMAT_VERSION,
  OFFLINE_PLATFORMS,
  OFFLINE_REQUEST_PARAM,
  OFFLINE_REQUEST_PATH,
  OFFLINE_REQUEST_TYPE,
  NONCE_BYTES,
  OfflineFormatError,
  USER_ID_PATTERN,
  decodePayload,
  deviceIdProblem,
  encodePayload,
  isIsoUtc,
  isNonce,
  isPlatform,
  type OfflinePlatform,
  type OfflineRequest,
} from './format';

export interface CreateOfflineRequestOptions {
  /** The app's device ID (the one it uses for seats); 1 to 256 characters, not all blank. */
  deviceId: string;
  platform: OfflinePlatform;
  /** The signed-in account's user ID, `A-XXX-XXX` (surrounding blanks and lowercase are tolerated). */
  userId: string;
  /** The server's public URL (PUBLIC_URL), e.g. `https://licenses.example.com`. */
  serverUrl: string;
  /** base64url of 16 bytes, or the 16 bytes; random (crypto.randomBytes) when left out. */
  nonce?: string | Uint8Array;
  now?: Date;
}

export interface CreatedOfflineRequest {
  /** The request itself; keep `nonce` to check the response against it. */
  request: OfflineRequest;
  /** base64url of the request's JSON. */
  payload: string;
  /** `<serverUrl>/offline?request=<payload>` */
  url: string;
  /** The request file: a standalone HTML page that forwards to `url`. */
  html: string;
}

/** Builds an offline request and its request file. Throws {@link OfflineFormatError} on bad input. */
export function createOfflineRequest(options: CreateOfflineRequestOptions): CreatedOfflineRequest {
  const { deviceId, platform, serverUrl } = options;
  const problem = deviceIdProblem(deviceId);
  if (problem) throw new OfflineFormatError(problem);
  if (!isPlatform(platform)) {
    throw new OfflineFormatError(`the platform must be ${OFFLINE_PLATFORMS.join(' or ')}, got ${JSON.stringify(platform)}`);
  }
  const userId = normalizeUserId(options.userId);
  const nonce = nonceOf(options.nonce);
  const now = options.now ?? new Date();
  if (!(now instanceof Date) || Number.isNaN(now.getTime())) throw new OfflineFormatError('"now" is not a valid date');

  const request: OfflineRequest = {
    v: OFFLINE_FORMAT_VERSION,
    type: OFFLINE_REQUEST_TYPE,
    deviceId,
    platform,
    userId,
    nonce,
    createdAt: now.toISOString(),
  };
  const payload = encodePayload(request);
  const url = `${offlinePageUrl(serverUrl)}?${OFFLINE_REQUEST_PARAM}=${encodeURIComponent(payload)}`;
  return { request, payload, url, html: requestFileHtml(url, userId) };
}

/**
 * Reads an offline request from the bare payload, the whole `…/offline?request=…` URL (or just its
 * path and query), or the request file's HTML, and checks every field. Returns a fresh object with
 * only the known fields. Throws {@link OfflineFormatError} (code `MALFORMED` or
 * `UNSUPPORTED_VERSION`) with a message that says what is wrong.
 */
export function parseOfflineRequest(input: string): OfflineRequest {
  if (typeof input !== 'string') throw new OfflineFormatError('the offline request must be a string');
  const text = input.replace(/^\uFEFF/, '').trim();
  if (text.length === 0) throw new OfflineFormatError('the offline request is empty');
  return validateRequest(decodePayload(extractPayload(text)));
}

/** `A-XXX-XXX` with surrounding blanks removed and in uppercase; throws when it is not one. */
export function normalizeUserId(userId: unknown): string {
  const normalized = typeof userId === 'string' ? userId.trim().toUpperCase() : '';
  if (!USER_ID_PATTERN.test(normalized)) {
    throw new OfflineFormatError(`the user ID must look like A-1B2-C3D (A- and two groups of three hex digits), got ${JSON.stringify(userId)}`);
  }
  return normalized;
}

function nonceOf(nonce: string | Uint8Array | undefined): string {
  if (nonce === undefined) return randomBytes(NONCE_BYTES).toString('base64url');
  if (typeof nonce === 'string') {
    if (!isNonce(nonce)) throw new OfflineFormatError(`the nonce must be base64url of ${NONCE_BYTES} bytes`);
    return nonce;
  }
  if (nonce.length !== NONCE_BYTES) throw new OfflineFormatError(`the nonce must be ${NONCE_BYTES} bytes, got ${nonce.length}`);
  return Buffer.from(nonce).toString('base64url');
}

/** `<serverUrl>/offline`: an absolute http(s) URL without query, fragment or credentials. */
function offlinePageUrl(serverUrl: string): string {
  let url: URL;
  try {
    url = new URL(String(serverUrl).trim());
  } catch {
    throw new OfflineFormatError(`the server URL must be an absolute URL such as https://licenses.example.com, got ${JSON.stringify(serverUrl)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new OfflineFormatError(`the server URL must use http or https, got ${url.protocol}`);
  if (url.search || url.hash) throw new OfflineFormatError('the server URL must not have a query or a fragment');
  if (url.username || url.password) throw new OfflineFormatError('the server URL must not contain credentials');
  return url.href.replace(/\/+$/, '') + OFFLINE_REQUEST_PATH;
}

function extractPayload(text: string): string {
  // A bare payload (standard base64 characters too, so that decodePayload can say what is wrong).
  if (/^[A-Za-z0-9_\-+/=]+$/.test(text)) return text;
  if (/<(?:!doctype|html|head|body|meta|a)\b/i.test(text)) return payloadFromHtml(text);
  return payloadFromUrl(text);
}

function payloadFromUrl(text: string): string {
  let url: URL;
  try {
    // A base lets "/offline?request=…" and "?request=…" through as well.
    url = new URL(text, 'http://offline.invalid/');
  } catch {
    throw new OfflineFormatError('the offline request is neither a payload, nor a URL, nor a request file');
  }
  const values = url.searchParams.getAll(OFFLINE_REQUEST_PARAM);
  if (values.length === 0) throw new OfflineFormatError(`the URL has no "${OFFLINE_REQUEST_PARAM}" parameter`);
  if (values.length > 1) throw new OfflineFormatError(`the URL has more than one "${OFFLINE_REQUEST_PARAM}" parameter`);
  return values[0].trim();
}

function payloadFromHtml(html: string): string {
  const urls: string[] = [];
  for (const m of html.matchAll(/\b(href|content)\s*=\s*(?:"([^"]*)"|'([^']*)')/gi)) {
    let value = unescapeHtml(m[2] ?? m[3] ?? '');
    if (m[1].toLowerCase() === 'content') {
      // <meta http-equiv="refresh" content="0; url=…">
      const refresh = /^\s*\d+(?:\.\d*)?\s*[;,]\s*url\s*=\s*(.*)$/is.exec(value);
      if (!refresh) continue;
      value = refresh[1].trim().replace(/^(['"])(.*)\1$/s, '$2');
    }
    if (value.includes(`${OFFLINE_REQUEST_PARAM}=`)) urls.push(value.trim());
  }
  if (urls.length === 0) throw new OfflineFormatError('the HTML holds no link to the Tessera offline page');
  const payloads = new Set(urls.map(payloadFromUrl));
  if (payloads.size > 1) throw new OfflineFormatError('the HTML links to more than one different offline request');
  return [...payloads][0];
}

function validateRequest(obj: Record<string, unknown>): OfflineRequest {
  if (obj.type !== OFFLINE_REQUEST_TYPE) {
    throw new OfflineFormatError(`not a Tessera offline request (type ${JSON.stringify(obj.type)}, expected "${OFFLINE_REQUEST_TYPE}")`);
  }
  if (obj.v !== OFFLINE_FORMAT_VERSION) {
    throw new OfflineFormatError(
      `unsupported offline request version ${JSON.stringify(obj.v)} (this reads version ${OFFLINE_FORMAT_VERSION})`,
      'UNSUPPORTED_VERSION',
    );
  }
  const problem = deviceIdProblem(obj.deviceId);
  if (problem) throw new OfflineFormatError(problem);
  if (!isPlatform(obj.platform)) throw new OfflineFormatError(`the platform must be ${OFFLINE_PLATFORMS.join(' or ')}, got ${JSON.stringify(obj.platform)}`);
  if (typeof obj.userId !== 'string' || !USER_ID_PATTERN.test(obj.userId)) {
    throw new OfflineFormatError(`the user ID must look like A-1B2-C3D, got ${JSON.stringify(obj.userId)}`);
  }
  if (!isNonce(obj.nonce)) throw new OfflineFormatError(`the nonce must be base64url of ${NONCE_BYTES} bytes`);
  if (!isIsoUtc(obj.createdAt)) throw new OfflineFormatError(`createdAt must be an ISO-8601 UTC time, got ${JSON.stringify(obj.createdAt)}`);
  return {
    v: OFFLINE_FORMAT_VERSION,
    type: OFFLINE_REQUEST_TYPE,
    deviceId: obj.deviceId as string,
    platform: obj.platform,
    userId: obj.userId,
    nonce: obj.nonce,
    createdAt: obj.createdAt,
  };
}

export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

function unescapeHtml(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|apos);/gi, (whole, entity: string) => {
    const e = entity.toLowerCase();
    if (e === 'amp') return '&';
    if (e === 'lt') return '<';
    if (e === 'gt') return '>';
    if (e === 'quot') return '"';
    if (e === 'apos') return "'";
    const code = e.startsWith('#x') ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
    return code <= 0x10ffff ? String.fromCodePoint(code) : whole;
  });
}

function requestFileHtml(url: string, userId: string): string {
  const href = escapeHtml(url);
  const user = escapeHtml(userId);
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta http-equiv="refresh" content="0; url=${href}">
<title>Tessera offline activation</title>
<style>
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.5; color: #1b1b1b; }
a.go { display: inline-block; margin: 1rem 0; padding: .6rem 1.2rem; background: #1d4ed8; color: #fff; border-radius: .4rem; text-decoration: none; }
section { margin-bottom: 1.2rem; }
</style>
</head>
<body>
<h1>Tessera offline activation</h1>
<p><a class="go" href="${href}" rel="noreferrer">Continue &middot; Weiter &middot; Continuar</a></p>
<section lang="en">
<p>This file asks the Tessera license server to activate a computer without an internet connection for account ${user}.
Open it in a web browser on any computer that is online: it takes you to the Tessera website, where you sign in and confirm.
You then receive a response file; copy it back to the offline computer.
If the page does not forward you automatically, click the link above.</p>
</section>
<section lang="de">
<p>Diese Datei bittet den Tessera-Lizenzserver, einen Computer ohne Internetverbindung für das Konto ${user} freizuschalten.
Öffnen Sie sie in einem Webbrowser auf einem beliebigen Computer mit Internetzugang: Sie gelangen zur Tessera-Website, wo Sie sich anmelden und bestätigen.
Danach erhalten Sie eine Antwortdatei; kopieren Sie sie auf den Offline-Computer.
Falls Sie nicht automatisch weitergeleitet werden, klicken Sie auf den Link oben.</p>
</section>
<section lang="es">
<p>Este archivo pide al servidor de licencias de Tessera que active un ordenador sin conexión a internet para la cuenta ${user}.
Ábralo en un navegador web en cualquier ordenador con conexión: le llevará al sitio web de Tessera, donde inicia sesión y confirma.
Después recibirá un archivo de respuesta; cópielo en el ordenador sin conexión.
Si la página no le redirige automáticamente, haga clic en el enlace de arriba.</p>
</section>
</body>
</html>
`;
}
