import type { ErrorCode } from '../../generated/graphql';
import type { AccessCode } from '../errors';

export type Template = string;
type Localized = Record<'EN' | 'DE' | 'ES', Template>;

/** One message per code, in every language. The Record type makes a missing code a compile error. */
export const userErrorMessages: Record<ErrorCode, Localized> = {
  BAD_USER_INPUT: {
    EN: 'Please check this value.',
    DE: 'Bitte prüfen Sie diesen Wert.',
    ES: 'Revise este valor.',
  },
  EMAIL_ALREADY_REGISTERED: {
    EN: 'An account with this email address already exists. Log in or reset your password.',
    DE: 'Zu dieser E-Mail-Adresse gibt es bereits ein Konto. Melden Sie sich an oder setzen Sie Ihr Passwort zurück.',
    ES: 'Ya existe una cuenta con esta dirección de correo. Inicie sesión o restablezca su contraseña.',
  },
  WEAK_PASSWORD: {
    EN: 'Please choose another password.',
    DE: 'Bitte wählen Sie ein anderes Passwort.',
    ES: 'Elija otra contraseña.',
  },
  INVALID_CREDENTIALS: {
    EN: 'The email address or the password is wrong.',
    DE: 'E-Mail-Adresse oder Passwort ist falsch.',
    ES: 'La dirección de correo o la contraseña no son correctas.',
  },
  LOGIN_BLOCKED: {
    EN: 'Too many failed logins. Logging in is blocked until {until}.',
    DE: 'Zu viele fehlgeschlagene Anmeldungen. Die Anmeldung ist bis {until} gesperrt.',
    ES: 'Demasiados intentos fallidos. El inicio de sesión está bloqueado hasta {until}.',
  },
  EMAIL_NOT_VERIFIED: {
    EN: 'Please confirm your email address first. We can send you the email again.',
    DE: 'Bitte bestätigen Sie zuerst Ihre E-Mail-Adresse. Wir können Ihnen die E-Mail erneut senden.',
    ES: 'Confirme primero su dirección de correo. Podemos enviarle el correo de nuevo.',
  },
  INVALID_TOKEN: {
    EN: 'This link is invalid or has expired. Please request a new one.',
    DE: 'Dieser Link ist ungültig oder abgelaufen. Bitte fordern Sie einen neuen an.',
    ES: 'Este enlace no es válido o ha caducado. Solicite uno nuevo.',
  },
  INVALID_LICENSE_KEY: {
    EN: 'This license key is not valid.',
    DE: 'Dieser Lizenzschlüssel ist ungültig.',
    ES: 'Esta clave de licencia no es válida.',
  },
  LEGACY_LICENSE_KEY: {
    EN: 'This key belongs to an older version of the program and cannot be activated here.',
    DE: 'Dieser Schlüssel gehört zu einer älteren Programmversion und kann hier nicht aktiviert werden.',
    ES: 'Esta clave pertenece a una versión anterior del programa y no se puede activar aquí.',
  },
  LICENSE_ALREADY_REDEEMED: {
    EN: 'This license has already been activated by another account.',
    DE: 'Diese Lizenz wurde bereits von einem anderen Konto aktiviert.',
    ES: 'Esta licencia ya ha sido activada por otra cuenta.',
  },
  LICENSE_TYPE_MISMATCH: {
    EN: 'This license is of another type than the licenses you already hold.',
    DE: 'Diese Lizenz hat einen anderen Typ als Ihre vorhandenen Lizenzen.',
    ES: 'Esta licencia es de otro tipo que las licencias que ya tiene.',
  },
  INVALID_INVITE_CODE: {
    EN: 'This invitation code is not valid.',
    DE: 'Dieser Einladungscode ist ungültig.',
    ES: 'Este código de invitación no es válido.',
  },
  EMAIL_DOMAIN_NOT_ALLOWED: {
    EN: 'This organization does not admit accounts with your email domain.',
    DE: 'Diese Organisation lässt Konten mit Ihrer E-Mail-Domain nicht zu.',
    ES: 'Esta organización no admite cuentas con su dominio de correo.',
  },
  MEMBERSHIP_BLOCKED: {
    EN: 'Your membership in this organization is blocked. Please contact its administrator.',
    DE: 'Ihre Mitgliedschaft in dieser Organisation ist gesperrt. Bitte wenden Sie sich an die Administration.',
    ES: 'Su membresía en esta organización está bloqueada. Contacte con su administrador.',
  },
  ORGANIZATION_EXISTS: {
    EN: 'This account already has an organization.',
    DE: 'Dieses Konto hat bereits eine Organisation.',
    ES: 'Esta cuenta ya tiene una organización.',
  },
  NOT_SHARABLE: {
    EN: 'This account holds no license that can be shared.',
    DE: 'Dieses Konto besitzt keine Lizenz, die geteilt werden kann.',
    ES: 'Esta cuenta no tiene ninguna licencia que se pueda compartir.',
  },
  NO_LICENSE: {
    EN: 'No license is available to you. You can still open and view your work.',
    DE: 'Ihnen steht keine Lizenz zur Verfügung. Sie können Ihre Arbeit weiterhin öffnen und ansehen.',
    ES: 'No tiene ninguna licencia disponible. Puede seguir abriendo y viendo su trabajo.',
  },
  SEATS_EXHAUSTED: {
    EN: 'All seats are in use ({inUse} of {total}).',
    DE: 'Alle Plätze sind belegt ({inUse} von {total}).',
    ES: 'Todos los puestos están en uso ({inUse} de {total}).',
  },
  CLOUD_SESSION_ACTIVE: {
    EN: 'You are already working in another browser. Take over that session to continue here.',
    DE: 'Sie arbeiten bereits in einem anderen Browser. Übernehmen Sie diese Sitzung, um hier weiterzuarbeiten.',
    ES: 'Ya está trabajando en otro navegador. Tome el control de esa sesión para continuar aquí.',
  },
  PLATFORM_NOT_LICENSED: {
    EN: 'Your license does not cover this platform.',
    DE: 'Ihre Lizenz gilt nicht für diese Plattform.',
    ES: 'Su licencia no cubre esta plataforma.',
  },
  LEASE_ENDED: {
    EN: 'Your seat has ended. Please save your work.',
    DE: 'Ihr Platz wurde beendet. Bitte speichern Sie Ihre Arbeit.',
    ES: 'Su puesto ha finalizado. Guarde su trabajo.',
  },
  TRIAL_NOT_ALLOWED: {
    EN: 'A trial is not possible for this account.',
    DE: 'Für dieses Konto ist keine Testversion möglich.',
    ES: 'No es posible una prueba para esta cuenta.',
  },
  TRIAL_EXPIRED: {
    EN: 'Your trial is over.',
    DE: 'Ihre Testphase ist abgelaufen.',
    ES: 'Su período de prueba ha terminado.',
  },
  OFFLINE_NOT_ALLOWED: {
    EN: 'Offline use is not available for this license.',
    DE: 'Für diese Lizenz ist keine Offline-Nutzung möglich.',
    ES: 'El uso sin conexión no está disponible para esta licencia.',
  },
  OFFLINE_PERIOD_TOO_LONG: {
    EN: 'The offline period may be at most {max} days.',
    DE: 'Der Offline-Zeitraum darf höchstens {max} Tage betragen.',
    ES: 'El período sin conexión puede ser como máximo de {max} días.',
  },
  ALREADY_ON_WAITLIST: {
    EN: 'You are already on the waiting list.',
    DE: 'Sie stehen bereits auf der Warteliste.',
    ES: 'Ya está en la lista de espera.',
  },
  OWN_ORGANIZATION: {
    EN: 'This is your own organization: you use its licenses as their owner.',
    DE: 'Das ist Ihre eigene Organisation: Sie nutzen deren Lizenzen als Eigentümer.',
    ES: 'Esta es su propia organización: usa sus licencias como propietario.',
  },
  ACCOUNT_OWNS_LICENSES: {
    EN: 'This account still owns licenses ({licenses}). Transfer them to another account first.',
    DE: 'Dieses Konto besitzt noch Lizenzen ({licenses}). Übertragen Sie sie zuerst auf ein anderes Konto.',
    ES: 'Esta cuenta todavía posee licencias ({licenses}). Transfiéralas primero a otra cuenta.',
  },
  SEAT_AVAILABLE: {
    EN: 'A seat is free right now: start the app to take it.',
    DE: 'Gerade ist ein Platz frei: Starten Sie die App, um ihn zu nutzen.',
    ES: 'Ahora mismo hay un puesto libre: inicie la aplicación para ocuparlo.',
  },
  OFFLINE_BOUND_SEAT: {
    EN: 'This seat is bound to an offline computer. Only support can free it.',
    DE: 'Dieser Platz ist an einen Offline-Computer gebunden. Nur der Support kann ihn freigeben.',
    ES: 'Este puesto está vinculado a un ordenador sin conexión. Solo el soporte puede liberarlo.',
  },
  ADMIN_PROTECTED: {
    EN: 'Administrators cannot do this.',
    DE: 'Das können Administratoren nicht tun.',
    ES: 'Los administradores no pueden hacer esto.',
  },
};

/** Messages that refine a code with a reason (`CODE.REASON`). */
export const reasonMessages: Record<string, Localized> = {
  'WEAK_PASSWORD.TOO_SHORT': {
    EN: 'The password must have at least 8 characters.',
    DE: 'Das Passwort muss mindestens 8 Zeichen lang sein.',
    ES: 'La contraseña debe tener al menos 8 caracteres.',
  },
  'WEAK_PASSWORD.TOO_LONG': {
    EN: 'The password may have at most 128 characters.',
    DE: 'Das Passwort darf höchstens 128 Zeichen lang sein.',
    ES: 'La contraseña puede tener como máximo 128 caracteres.',
  },
  'WEAK_PASSWORD.TOO_COMMON': {
    EN: 'This password is among the most common passwords. Please choose another one.',
    DE: 'Dieses Passwort gehört zu den häufigsten Passwörtern. Bitte wählen Sie ein anderes.',
    ES: 'Esta contraseña está entre las más comunes. Elija otra.',
  },
  'BAD_USER_INPUT.NAME_LENGTH': {
    EN: 'The name must have between 1 and 200 characters.',
    DE: 'Der Name muss zwischen 1 und 200 Zeichen lang sein.',
    ES: 'El nombre debe tener entre 1 y 200 caracteres.',
  },
  'BAD_USER_INPUT.NAME_CHARACTERS': {
    EN: 'The name must not contain control characters, invisible characters, text-direction marks or too many accents on one letter.',
    DE: 'Der Name darf keine Steuerzeichen, unsichtbaren Zeichen, Textrichtungszeichen oder zu viele Akzente auf einem Buchstaben enthalten.',
    ES: 'El nombre no puede contener caracteres de control, caracteres invisibles, marcas de dirección del texto ni demasiados acentos sobre una letra.',
  },
  'BAD_USER_INPUT.EMAIL': {
    EN: 'Please enter a valid email address.',
    DE: 'Bitte geben Sie eine gültige E-Mail-Adresse ein.',
    ES: 'Introduzca una dirección de correo válida.',
  },
  'ADMIN_PROTECTED.SELF': {
    EN: 'You cannot do this to your own membership. To leave, use "leave organization".',
    DE: 'Das können Sie nicht mit Ihrer eigenen Mitgliedschaft tun. Zum Austreten verwenden Sie „Organisation verlassen“.',
    ES: 'No puede hacer esto con su propia membresía. Para salir, use «abandonar la organización».',
  },
  'ADMIN_PROTECTED.OTHER_ADMIN': {
    EN: 'Only the owner can block, remove or change another administrator.',
    DE: 'Nur der Eigentümer kann andere Administratoren sperren, entfernen oder ändern.',
    ES: 'Solo el propietario puede bloquear, eliminar o cambiar a otro administrador.',
  },
  'ADMIN_PROTECTED.OWNER_ONLY': {
    EN: 'Only the owner can appoint or revoke co-administrators.',
    DE: 'Nur der Eigentümer kann Co-Administratoren ernennen oder abberufen.',
    ES: 'Solo el propietario puede nombrar o revocar coadministradores.',
  },
  'INVALID_LICENSE_KEY.TYPO': {
    EN: 'This license key contains a typing error. Please check each character, or type the key by hand instead of pasting it.',
    DE: 'Dieser Lizenzschlüssel enthält einen Tippfehler. Bitte prüfen Sie jedes Zeichen oder tippen Sie den Schlüssel von Hand ein, statt ihn einzufügen.',
    ES: 'Esta clave de licencia contiene un error tipográfico. Revise cada carácter o escriba la clave a mano en lugar de pegarla.',
  },
  'INVALID_LICENSE_KEY.UNKNOWN': {
    EN: 'This license key is unknown. Keys look like R-123-456-789-ABC-DEF-123.',
    DE: 'Dieser Lizenzschlüssel ist unbekannt. Schlüssel sehen so aus: R-123-456-789-ABC-DEF-123.',
    ES: 'Esta clave de licencia es desconocida. Las claves tienen este aspecto: R-123-456-789-ABC-DEF-123.',
  },
  'INVALID_LICENSE_KEY.REVOKED': {
    EN: 'This license key has been withdrawn. Please contact support.',
    DE: 'Dieser Lizenzschlüssel wurde zurückgezogen. Bitte wenden Sie sich an den Support.',
    ES: 'Esta clave de licencia ha sido retirada. Contacte con el soporte.',
  },
  'BAD_USER_INPUT.EMAIL_DOMAIN': {
    EN: 'Please enter email domains such as university.edu.',
    DE: 'Bitte geben Sie E-Mail-Domains wie university.edu ein.',
    ES: 'Introduzca dominios de correo como university.edu.',
  },
  'BAD_USER_INPUT.OFFLINE_DAYS': {
    EN: 'The longest offline reservation must be between 1 and 365 days.',
    DE: 'Die längste Offline-Reservierung muss zwischen 1 und 365 Tagen liegen.',
    ES: 'La reserva sin conexión más larga debe estar entre 1 y 365 días.',
  },
  'BAD_USER_INPUT.PAGE_SIZE': {
    EN: 'A page holds between 1 and 100 items.',
    DE: 'Eine Seite enthält zwischen 1 und 100 Einträge.',
    ES: 'Una página contiene entre 1 y 100 elementos.',
  },
  'BAD_USER_INPUT.CURSOR': {
    EN: 'This page cursor is not valid.',
    DE: 'Dieser Seitenzeiger ist ungültig.',
    ES: 'Este cursor de página no es válido.',
  },
  'BAD_USER_INPUT.SEATS': {
    EN: 'The number of seats must be between 1 and 1,000,000.',
    DE: 'Die Anzahl der Plätze muss zwischen 1 und 1.000.000 liegen.',
    ES: 'El número de puestos debe estar entre 1 y 1.000.000.',
  },
  'BAD_USER_INPUT.PLATFORMS': {
    EN: 'Please name at least one platform.',
    DE: 'Bitte geben Sie mindestens eine Plattform an.',
    ES: 'Indique al menos una plataforma.',
  },
  'BAD_USER_INPUT.EXPIRY_IN_PAST': {
    EN: 'The expiry must lie in the future.',
    DE: 'Das Ablaufdatum muss in der Zukunft liegen.',
    ES: 'La fecha de caducidad debe estar en el futuro.',
  },
  'BAD_USER_INPUT.ORDER_REFERENCE': {
    EN: 'The order reference must have between 1 and 200 characters.',
    DE: 'Die Bestellreferenz muss zwischen 1 und 200 Zeichen lang sein.',
    ES: 'La referencia del pedido debe tener entre 1 y 200 caracteres.',
  },
  'BAD_USER_INPUT.ORDER_REFERENCE_REUSED': {
    EN: 'This order reference already belongs to a different order.',
    DE: 'Diese Bestellreferenz gehört bereits zu einer anderen Bestellung.',
    ES: 'Esta referencia de pedido ya pertenece a otro pedido.',
  },
  'BAD_USER_INPUT.UNKNOWN_ACCOUNT': {
    EN: 'No account has this user ID.',
    DE: 'Kein Konto hat diese Benutzer-ID.',
    ES: 'Ninguna cuenta tiene este ID de usuario.',
  },
  'BAD_USER_INPUT.TRIAL_NOT_ISSUABLE': {
    EN: 'Trial licenses are requested by the user, not issued by the shop.',
    DE: 'Testlizenzen werden vom Benutzer angefordert, nicht vom Shop ausgestellt.',
    ES: 'Las licencias de prueba las solicita el usuario; la tienda no las emite.',
  },
  'BAD_USER_INPUT.DEVICE_ID': {
    EN: 'The device ID must have between 1 and 256 characters.',
    DE: 'Die Geräte-ID muss zwischen 1 und 256 Zeichen lang sein.',
    ES: 'El ID del dispositivo debe tener entre 1 y 256 caracteres.',
  },
  'OFFLINE_NOT_ALLOWED.CLOUD': {
    EN: 'Cloud needs the connection: its seat cannot be reserved for offline use.',
    DE: 'Cloud braucht die Verbindung: ihr Platz kann nicht für die Offline-Nutzung reserviert werden.',
    ES: 'Cloud necesita la conexión: su puesto no se puede reservar para usarlo sin conexión.',
  },
  'OFFLINE_NOT_ALLOWED.NOT_A_MEMBER_SEAT': {
    EN: 'Your own license keeps this seat when you close the app; no reservation is needed.',
    DE: 'Ihre eigene Lizenz behält diesen Platz, wenn Sie die App schließen; eine Reservierung ist nicht nötig.',
    ES: 'Su propia licencia conserva este puesto al cerrar la aplicación; no hace falta reservarlo.',
  },
  'TRIAL_NOT_ALLOWED.HAS_LICENSE': {
    EN: 'You already hold a license, so a trial is not needed.',
    DE: 'Sie besitzen bereits eine Lizenz; eine Testversion ist nicht nötig.',
    ES: 'Ya tiene una licencia; no necesita una prueba.',
  },
  'TRIAL_NOT_ALLOWED.ACTIVE_TRIAL': {
    EN: 'Your trial is still running.',
    DE: 'Ihre Testphase läuft noch.',
    ES: 'Su período de prueba sigue activo.',
  },
  'TRIAL_NOT_ALLOWED.RECENT_TRIAL': {
    EN: 'You had a trial within the last year. Another one is possible 365 days after the last.',
    DE: 'Sie hatten im letzten Jahr bereits eine Testversion. Eine weitere ist 365 Tage nach der letzten möglich.',
    ES: 'Tuvo una prueba en el último año. Otra es posible 365 días después de la anterior.',
  },
  'OFFLINE_NOT_ALLOWED.NOT_PERMANENT': {
    EN: 'Offline validation needs a permanent license of your own (not a student, semester or trial license).',
    DE: 'Die Offline-Validierung braucht eine eigene unbefristete Lizenz (keine Studenten-, Semester- oder Testlizenz).',
    ES: 'La validación sin conexión necesita una licencia propia permanente (no de estudiante, semestre ni prueba).',
  },
  'OFFLINE_NOT_ALLOWED.OTHER_ACCOUNT': {
    EN: 'This request was made for another account. Log in with the account named in the request.',
    DE: 'Diese Anfrage wurde für ein anderes Konto erstellt. Melden Sie sich mit dem Konto aus der Anfrage an.',
    ES: 'Esta solicitud se creó para otra cuenta. Inicie sesión con la cuenta indicada en la solicitud.',
  },
  'BAD_USER_INPUT.OFFLINE_REQUEST': {
    EN: 'This is not a valid offline request. Open the request file created by the app again.',
    DE: 'Das ist keine gültige Offline-Anfrage. Öffnen Sie die von der App erstellte Anfragedatei erneut.',
    ES: 'Esta no es una solicitud sin conexión válida. Vuelva a abrir el archivo de solicitud creado por la aplicación.',
  },
  'OFFLINE_NOT_ALLOWED.TRIAL': {
    EN: 'A trial needs the connection to the license server: no offline use.',
    DE: 'Eine Testversion braucht die Verbindung zum Lizenzserver: keine Offline-Nutzung.',
    ES: 'Una prueba necesita la conexión con el servidor de licencias: sin uso sin conexión.',
  },
  'LEASE_ENDED.TIMED_OUT': {
    EN: 'Your seat was freed because the app did not report for too long. Please save your work and restart.',
    DE: 'Ihr Platz wurde freigegeben, weil sich die App zu lange nicht gemeldet hat. Bitte speichern Sie und starten Sie neu.',
    ES: 'Su puesto se liberó porque la aplicación no se comunicó durante demasiado tiempo. Guarde su trabajo y reinicie.',
  },
  'LEASE_ENDED.LICENSE_ENDED': {
    EN: 'The license serving your seat has ended. Please save your work.',
    DE: 'Die Lizenz Ihres Platzes ist abgelaufen. Bitte speichern Sie Ihre Arbeit.',
    ES: 'La licencia de su puesto ha finalizado. Guarde su trabajo.',
  },
  'LEASE_ENDED.MEMBERSHIP_ENDED': {
    EN: 'Your membership in the organization has ended. Please save your work.',
    DE: 'Ihre Mitgliedschaft in der Organisation wurde beendet. Bitte speichern Sie Ihre Arbeit.',
    ES: 'Su membresía en la organización ha finalizado. Guarde su trabajo.',
  },
  'LEASE_ENDED.TAKEN_OVER': {
    EN: 'You continued in another browser, which took over this session.',
    DE: 'Sie arbeiten in einem anderen Browser weiter, der diese Sitzung übernommen hat.',
    ES: 'Continuó en otro navegador, que tomó el control de esta sesión.',
  },
  'ACCOUNT_OWNS_LICENSES.ORGANIZATION': {
    EN: 'This account still owns licenses ({licenses}), shared with the members of its organization “{organization}”. Transfer them to another account first.',
    DE: 'Dieses Konto besitzt noch Lizenzen ({licenses}), die es mit den Mitgliedern seiner Organisation „{organization}“ teilt. Übertragen Sie sie zuerst auf ein anderes Konto.',
    ES: 'Esta cuenta todavía posee licencias ({licenses}), compartidas con los miembros de su organización «{organization}». Transfiéralas primero a otra cuenta.',
  },
  'BAD_USER_INPUT.UNKNOWN_LICENSE': {
    EN: 'No license has this ID.',
    DE: 'Keine Lizenz hat diese ID.',
    ES: 'Ninguna licencia tiene este ID.',
  },
  'BAD_USER_INPUT.UNKNOWN_ORDER': {
    EN: 'No license was issued under this order reference.',
    DE: 'Unter dieser Bestellnummer wurde keine Lizenz ausgestellt.',
    ES: 'No se ha emitido ninguna licencia con esta referencia de pedido.',
  },
  'BAD_USER_INPUT.LICENSE_REVOKED': {
    EN: 'This license was revoked; it cannot be renewed. Issue a new license instead.',
    DE: 'Diese Lizenz wurde widerrufen und kann nicht verlängert werden. Stellen Sie stattdessen eine neue Lizenz aus.',
    ES: 'Esta licencia fue revocada y no se puede renovar. Emita una licencia nueva en su lugar.',
  },
  'BAD_USER_INPUT.RENEWAL_REFERENCE_REUSED': {
    EN: 'This renewal reference was already used with other terms.',
    DE: 'Diese Verlängerungsreferenz wurde bereits mit anderen Bedingungen verwendet.',
    ES: 'Esta referencia de renovación ya se usó con otras condiciones.',
  },
  'BAD_USER_INPUT.HANDOFF_UNKNOWN': {
    EN: 'This hand-off token is not known. Ask the buyer to come back from the license portal.',
    DE: 'Dieses Übergabe-Token ist unbekannt. Bitten Sie den Käufer, erneut vom Lizenzportal zu kommen.',
    ES: 'Este token de traspaso no es conocido. Pida al comprador que vuelva desde el portal de licencias.',
  },
  'BAD_USER_INPUT.HANDOFF_USED': {
    EN: 'This hand-off token was already used for another order.',
    DE: 'Dieses Übergabe-Token wurde bereits für eine andere Bestellung verwendet.',
    ES: 'Este token de traspaso ya se usó para otro pedido.',
  },
  'BAD_USER_INPUT.HANDOFF_EXPIRED': {
    EN: 'This hand-off token has expired (it is valid for 30 minutes). Issue the license without it; the key is emailed.',
    DE: 'Dieses Übergabe-Token ist abgelaufen (es gilt 30 Minuten). Stellen Sie die Lizenz ohne es aus; der Schlüssel wird per E-Mail gesendet.',
    ES: 'Este token de traspaso ha caducado (es válido 30 minutos). Emita la licencia sin él; la clave se envía por correo.',
  },
  'BAD_USER_INPUT.REDEEM_TARGETS': {
    EN: 'Give either a user ID or a hand-off token, not both.',
    DE: 'Geben Sie entweder eine Benutzer-ID oder ein Übergabe-Token an, nicht beides.',
    ES: 'Indique un ID de usuario o un token de traspaso, no ambos.',
  },
  'BAD_USER_INPUT.TRIAL_NOT_TRANSFERABLE': {
    EN: 'A trial belongs to the account that requested it and cannot be moved.',
    DE: 'Eine Testversion gehört zu dem Konto, das sie angefordert hat, und kann nicht übertragen werden.',
    ES: 'Una prueba pertenece a la cuenta que la solicitó y no se puede transferir.',
  },
  'BAD_USER_INPUT.NO_RECIPIENT': {
    EN: 'Nobody can receive this key: the license has no owner or purchaser address left.',
    DE: 'Niemand kann diesen Schlüssel erhalten: Die Lizenz hat keine Adresse eines Inhabers oder Käufers mehr.',
    ES: 'Nadie puede recibir esta clave: la licencia ya no tiene dirección de titular ni de comprador.',
  },
  'BAD_USER_INPUT.DELETE_SELF': {
    EN: 'Support cannot delete its own account; ask another support account.',
    DE: 'Der Support kann sein eigenes Konto nicht löschen; wenden Sie sich an ein anderes Support-Konto.',
    ES: 'El soporte no puede eliminar su propia cuenta; pida a otra cuenta de soporte.',
  },
  'BAD_USER_INPUT.RELEASE_TARGET': {
    EN: 'Name the lease or the license whose seats should be freed.',
    DE: 'Geben Sie die Sitzung oder die Lizenz an, deren Plätze freigegeben werden sollen.',
    ES: 'Indique la sesión o la licencia cuyos puestos deben liberarse.',
  },
  'BAD_USER_INPUT.NEGATIVE': {
    EN: 'The value must not be negative.',
    DE: 'Der Wert darf nicht negativ sein.',
    ES: 'El valor no puede ser negativo.',
  },
};

export const accessMessages: Record<AccessCode, Localized> = {
  UNAUTHENTICATED: {
    EN: 'Please log in.',
    DE: 'Bitte melden Sie sich an.',
    ES: 'Inicie sesión.',
  },
  NOT_FOUND: {
    EN: 'Not found.',
    DE: 'Nicht gefunden.',
    ES: 'No encontrado.',
  },
  FORBIDDEN: {
    EN: 'You are not allowed to do this.',
    DE: 'Dazu sind Sie nicht berechtigt.',
    ES: 'No tiene permiso para hacer esto.',
  },
  RATE_LIMITED: {
    EN: 'Too many requests. Please try again in {retryAfterSeconds} seconds.',
    DE: 'Zu viele Anfragen. Bitte versuchen Sie es in {retryAfterSeconds} Sekunden erneut.',
    ES: 'Demasiadas solicitudes. Inténtelo de nuevo en {retryAfterSeconds} segundos.',
  },
  INTERNAL_SERVER_ERROR: {
    EN: 'Something went wrong on our side. Please try again.',
    DE: 'Bei uns ist ein Fehler aufgetreten. Bitte versuchen Sie es erneut.',
    ES: 'Algo ha fallado por nuestra parte. Inténtelo de nuevo.',
  },
};
