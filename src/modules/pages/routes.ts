import { parse as parseCookies } from 'cookie';
import { DEVICE_COOKIE } from '../accounts/known-clients';
import express, { type Router } from 'express';
import { AccessError, DomainError } from '../../platform/errors';
import { accessMessage, negotiateLanguage, userErrorMessage, type Lang } from '../../platform/i18n';
import type { Services } from '../../services';
import { Session } from '../../platform/auth/session';
import { parseOfflineRequest } from '../../offline/request';
import { parseCode } from '../licenses/codes';

/**
 * The pages that emailed links lead to (R1.3, R1.7). A GET only shows a form; the change happens on
 * POST, so that mail scanners that fetch links do not use up single-use tokens. The token stays out
 * of Referer headers and nothing on the page loads from elsewhere.
 */
const TEXT: Record<Lang, Record<string, string>> = {
  EN: {
    verifyTitle: 'Confirm your email address',
    verifyButton: 'Confirm email address',
    verified: 'Thank you: your email address is confirmed.',
    resetTitle: 'Choose a new password',
    newPassword: 'New password (8 to 128 characters)',
    resetButton: 'Set password',
    reset: 'Your password has been changed. Please log in again on every device.',
    missing: 'This link is incomplete. Please open the link from the email again.',
  },
  DE: {
    verifyTitle: 'E-Mail-Adresse bestätigen',
    verifyButton: 'E-Mail-Adresse bestätigen',
    verified: 'Vielen Dank: Ihre E-Mail-Adresse ist bestätigt.',
    resetTitle: 'Neues Passwort festlegen',
    newPassword: 'Neues Passwort (8 bis 128 Zeichen)',
    resetButton: 'Passwort festlegen',
    reset: 'Ihr Passwort wurde geändert. Bitte melden Sie sich auf allen Geräten neu an.',
    missing: 'Dieser Link ist unvollständig. Bitte öffnen Sie den Link aus der E-Mail erneut.',
  },
  ES: {
    verifyTitle: 'Confirme su dirección de correo',
    verifyButton: 'Confirmar la dirección de correo',
    verified: 'Gracias: su dirección de correo está confirmada.',
    resetTitle: 'Elija una nueva contraseña',
    newPassword: 'Nueva contraseña (de 8 a 128 caracteres)',
    resetButton: 'Establecer la contraseña',
    reset: 'Su contraseña se ha cambiado. Vuelva a iniciar sesión en todos sus dispositivos.',
    missing: 'Este enlace está incompleto. Vuelva a abrir el enlace del correo.',
  },
};

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function page(lang: Lang, title: string, body: string): string {
  return `<!doctype html><html lang="${lang.toLowerCase()}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title><style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;line-height:1.5}
input,button{font:inherit;padding:.4rem .6rem}label{display:block;margin:.8rem 0 .3rem}.error{color:#a00}</style></head>
<body><h1>${escapeHtml(title)}</h1>${body}</body></html>`;
}

const OFFLINE_TEXT: Record<Lang, Record<string, string>> = {
  EN: {
    title: 'Activate an offline computer',
    intro: 'A computer without internet access asks to use your license. Log in to confirm; you then download a response file to carry back to that computer.',
    user: 'Account',
    platform: 'Platform',
    email: 'Email address',
    password: 'Password',
    confirm: 'Log in and create the response file',
    bad: 'This request is not valid. Please create a new request file in the app.',
  },
  DE: {
    title: 'Offline-Computer aktivieren',
    intro:
      'Ein Computer ohne Internetzugang möchte Ihre Lizenz nutzen. Melden Sie sich zur Bestätigung an; danach laden Sie eine Antwortdatei herunter und bringen sie zu diesem Computer.',
    user: 'Konto',
    platform: 'Plattform',
    email: 'E-Mail-Adresse',
    password: 'Passwort',
    confirm: 'Anmelden und Antwortdatei erstellen',
    bad: 'Diese Anfrage ist ungültig. Bitte erstellen Sie in der App eine neue Anfragedatei.',
  },
  ES: {
    title: 'Activar un ordenador sin conexión',
    intro:
      'Un ordenador sin acceso a internet solicita usar su licencia. Inicie sesión para confirmar; después descargue un archivo de respuesta y llévelo a ese ordenador.',
    user: 'Cuenta',
    platform: 'Plataforma',
    email: 'Dirección de correo',
    password: 'Contraseña',
    confirm: 'Iniciar sesión y crear el archivo de respuesta',
    bad: 'Esta solicitud no es válida. Cree un nuevo archivo de solicitud en la aplicación.',
  },
};

const JOIN_TEXT: Record<Lang, Record<string, string>> = {
  EN: {
    title: 'Join an organization',
    intro: 'You have been invited to use an organization’s licenses with this invite code:',
    confirm: 'Log in and join',
    joined: 'You have joined {name}. Start the app and log in to use its licenses.',
    alternative: 'You can also enter the code in the activation box of the license portal.',
  },
  DE: {
    title: 'Einer Organisation beitreten',
    intro: 'Sie wurden eingeladen, die Lizenzen einer Organisation mit diesem Einladungscode zu nutzen:',
    confirm: 'Anmelden und beitreten',
    joined: 'Sie sind {name} beigetreten. Starten Sie die App und melden Sie sich an, um die Lizenzen zu nutzen.',
    alternative: 'Sie können den Code auch im Aktivierungsfeld des Lizenzportals eingeben.',
  },
  ES: {
    title: 'Unirse a una organización',
    intro: 'Le han invitado a usar las licencias de una organización con este código de invitación:',
    confirm: 'Iniciar sesión y unirse',
    joined: 'Se ha unido a {name}. Inicie la aplicación e inicie sesión para usar sus licencias.',
    alternative: 'También puede introducir el código en la casilla de activación del portal de licencias.',
  },
};

export function pageRoutes(services: Services, ipHashOf: (req: express.Request) => string): Router {
  const router = express.Router();
  router.use(['/verify-email', '/reset-password', '/offline', '/join'], (_req, res, next) => {
    res.set({
      'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
      'Referrer-Policy': 'no-referrer',
      'X-Content-Type-Options': 'nosniff',
      'Cache-Control': 'no-store',
    });
    next();
  });
  const form = express.urlencoded({ extended: false, limit: '8kb' });

  const langOf = (req: express.Request): Lang => negotiateLanguage(req.headers['accept-language']) ?? 'EN';
  const tokenOf = (req: express.Request): string => {
    const v = req.method === 'POST' ? (req.body as Record<string, unknown>)?.token : req.query.token;
    return typeof v === 'string' ? v : '';
  };
  const failure = (lang: Lang, err: unknown): string => {
    if (err instanceof DomainError) return `<p class="error">${escapeHtml(userErrorMessage(lang, err.code, err.options.reason, err.options.params))}</p>`;
    if (err instanceof AccessError && err.code === 'RATE_LIMITED') return `<p class="error">${escapeHtml(accessMessage(lang, 'RATE_LIMITED', err.params))}</p>`;
    throw err;
  };
  const statusOf = (err: unknown) => (err instanceof AccessError && err.code === 'RATE_LIMITED' ? 429 : 400);

  /**
   * A form's POST: `act` answers on success; an expected failure shows the form again with the
   * message (400, or 429 when rate limited); anything else goes to the error handler.
   */
  const formPost =
    (act: (req: express.Request, res: express.Response, lang: Lang) => Promise<void>, again: (req: express.Request, lang: Lang, error: string) => string) =>
    async (req: express.Request, res: express.Response, next: express.NextFunction) => {
      const lang = langOf(req);
      try {
        await act(req, res, lang);
      } catch (err) {
        try {
          res
            .status(statusOf(err))
            .type('html')
            .send(again(req, lang, failure(lang, err)));
        } catch (e) {
          next(e);
        }
      }
    };

  router.get('/verify-email', (req, res) => {
    const lang = langOf(req);
    const t = TEXT[lang];
    const token = tokenOf(req);
    if (!token)
      return void res
        .status(400)
        .type('html')
        .send(page(lang, t.verifyTitle, `<p class="error">${t.missing}</p>`));
    res
      .type('html')
      .send(
        page(
          lang,
          t.verifyTitle,
          `<form method="post" action="/verify-email"><input type="hidden" name="token" value="${escapeHtml(token)}"><button type="submit">${t.verifyButton}</button></form>`,
        ),
      );
  });

  router.post(
    '/verify-email',
    form,
    formPost(
      async (req, res, lang) => {
        await services.accounts.verifyEmail(services.accounts.sessionFor({ kind: 'anonymous' }), tokenOf(req));
        res.type('html').send(page(lang, TEXT[lang].verifyTitle, `<p>${TEXT[lang].verified}</p>`));
      },
      (_req, lang, error) => page(lang, TEXT[lang].verifyTitle, error),
    ),
  );

  const resetForm = (lang: Lang, token: string, error = '') =>
    page(
      lang,
      TEXT[lang].resetTitle,
      `${error}<form method="post" action="/reset-password"><input type="hidden" name="token" value="${escapeHtml(token)}">
<label for="pw">${TEXT[lang].newPassword}</label><input id="pw" type="password" name="newPassword" autocomplete="new-password" minlength="8" maxlength="128" required>
<p><button type="submit">${TEXT[lang].resetButton}</button></p></form>`,
    );

  router.get('/reset-password', (req, res) => {
    const lang = langOf(req);
    const token = tokenOf(req);
    if (!token)
      return void res
        .status(400)
        .type('html')
        .send(page(lang, TEXT[lang].resetTitle, `<p class="error">${TEXT[lang].missing}</p>`));
    res.type('html').send(resetForm(lang, token));
  });

  router.post(
    '/reset-password',
    form,
    formPost(
      async (req, res, lang) => {
        const password = (req.body as Record<string, unknown>)?.newPassword;
        await services.accounts.resetPassword(
          services.accounts.sessionFor({ kind: 'anonymous' }),
          tokenOf(req),
          typeof password === 'string' ? password : '',
          ipHashOf(req),
        );
        res.type('html').send(page(lang, TEXT[lang].resetTitle, `<p>${TEXT[lang].reset}</p>`));
      },
      (req, lang, error) => resetForm(lang, tokenOf(req), error),
    ),
  );
  // R6.2–R6.3: where the request file leads. Logging in here uses the same login rules (R1.6)
  // and the token made for it is revoked as soon as the response file is made.
  const offlineForm = (lang: Lang, request: string, error = '') => {
    const t = OFFLINE_TEXT[lang];
    let details = '';
    try {
      const parsed = parseOfflineRequest(request);
      details = `<p>${t.user}: <strong>${escapeHtml(parsed.userId)}</strong><br>${t.platform}: ${escapeHtml(parsed.platform)}</p>`;
    } catch {
      return page(lang, t.title, `<p class="error">${t.bad}</p>`);
    }
    return page(
      lang,
      t.title,
      `<p>${t.intro}</p>${details}${error}<form method="post" action="/offline"><input type="hidden" name="request" value="${escapeHtml(request)}">
<label for="email">${t.email}</label><input id="email" type="email" name="email" autocomplete="username" required>
<label for="password">${t.password}</label><input id="password" type="password" name="password" autocomplete="current-password" required>
<p><button type="submit">${t.confirm}</button></p></form>`,
    );
  };

  router.get('/offline', (req, res) => {
    const lang = langOf(req);
    const request = typeof req.query.request === 'string' ? req.query.request : '';
    const html = offlineForm(lang, request);
    res
      .status(html.includes('class="error"') ? 400 : 200)
      .type('html')
      .send(html);
  });

  /**
   * Logs in with the form's email and password (the same rules as `login`, R1.6), runs `action`
   * as that account, and revokes the token made for it whatever happens.
   */
  const asFormLogin = async <T>(req: express.Request, action: (session: Session) => Promise<T>): Promise<T> => {
    const body = req.body as Record<string, unknown>;
    const email = typeof body?.email === 'string' ? body.email : '';
    const password = typeof body?.password === 'string' ? body.password : '';
    // A browser that logged in before proves it with its device cookie here too (R1.6).
    const proof = { deviceCookie: parseCookies(req.headers.cookie ?? '')[DEVICE_COOKIE] };
    const { token } = await services.accounts.login(
      services.accounts.sessionFor({ kind: 'anonymous' }),
      { email, password, client: 'WEB' },
      ipHashOf(req),
      proof,
    );
    const session = (await services.accounts.sessionOf(token))!;
    try {
      return await action(session);
    } finally {
      await services.accounts.logout(session);
    }
  };

  const requestOf = (req: express.Request): string => {
    const v = (req.body as Record<string, unknown>)?.request;
    return typeof v === 'string' ? v : '';
  };
  router.post(
    '/offline',
    form,
    formPost(
      async (req, res) => {
        const { responseFile } = await asFormLogin(req, (session) => services.offline.validate(session, requestOf(req)));
        res.set('Content-Disposition', 'attachment; filename="response.lic"').type('application/json').send(responseFile);
      },
      (req, lang, error) => offlineForm(lang, requestOf(req), error),
    ),
  );

  // R3.2, R3.3: the invite URL. The page names the code; logging in here joins (idempotent).
  const joinForm = (lang: Lang, code: string, error = '') => {
    const t = JOIN_TEXT[lang];
    return page(
      lang,
      t.title,
      `<p>${t.intro}</p><p><strong>${escapeHtml(code)}</strong></p>${error}<form method="post" action="/join/${encodeURIComponent(code)}">
<label for="email">${OFFLINE_TEXT[lang].email}</label><input id="email" type="email" name="email" autocomplete="username" required>
<label for="password">${OFFLINE_TEXT[lang].password}</label><input id="password" type="password" name="password" autocomplete="current-password" required>
<p><button type="submit">${t.confirm}</button></p></form><p>${t.alternative}</p>`,
    );
  };
  const codeOf = (req: express.Request): string => String(req.params.code).slice(0, 64);
  router.get('/join/:code', (req, res) => {
    res.type('html').send(joinForm(langOf(req), codeOf(req)));
  });
  router.post(
    '/join/:code',
    form,
    formPost(
      async (req, res, lang) => {
        const parsed = parseCode(codeOf(req));
        if (parsed.kind !== 'invite') throw new DomainError('INVALID_INVITE_CODE');
        const joined = await asFormLogin(req, (session) => services.organizations.join(session, parsed.code));
        res.type('html').send(page(lang, JOIN_TEXT[lang].title, `<p>${escapeHtml(JOIN_TEXT[lang].joined.replace('{name}', joined.organization.name))}</p>`));
      },
      (req, lang, error) => joinForm(lang, codeOf(req), error),
    ),
  );
  return router;
}
