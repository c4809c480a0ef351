// One catalogue of the errors Tocsin answers with. Services throw these; the HTTP layer maps
// them to `{errcode, error}` bodies in one place (http/error-handler.ts).

export class MatrixError extends Error {
  readonly status: number;
  readonly errcode: string;
  readonly extra: Record<string, unknown>;

  constructor(status: number, errcode: string, message: string, extra: Record<string, unknown> = {}) {
    super(message);
    this.status = status;
    this.errcode = errcode;
    this.extra = extra;
  }

  body(): Record<string, unknown> {
    return { errcode: this.errcode, error: this.message, ...this.extra };
  }
}

export const badJson = (msg: string) => new MatrixError(400, 'M_BAD_JSON', msg);
export const notJson = (msg = 'Content not JSON.') => new MatrixError(400, 'M_NOT_JSON', msg);
export const invalidParam = (msg: string) => new MatrixError(400, 'M_INVALID_PARAM', msg);
export const missingParam = (msg: string) => new MatrixError(400, 'M_MISSING_PARAM', msg);
export const forbidden = (msg: string) => new MatrixError(403, 'M_FORBIDDEN', msg);
export const notFound = (msg = 'Not found.') => new MatrixError(404, 'M_NOT_FOUND', msg);
export const unrecognized = (status: 404 | 405, msg = 'Unrecognized request') =>
  new MatrixError(status, 'M_UNRECOGNIZED', msg);
export const missingToken = () => new MatrixError(401, 'M_MISSING_TOKEN', 'Missing access token.');
export const unknownToken = (softLogout = false) =>
  new MatrixError(401, 'M_UNKNOWN_TOKEN', 'Unknown or expired access token.', { soft_logout: softLogout });
export const userInUse = () => new MatrixError(400, 'M_USER_IN_USE', 'User ID already taken.');
export const invalidUsername = (msg: string) => new MatrixError(400, 'M_INVALID_USERNAME', msg);
export const tooLarge = (msg = 'Request too large.') => new MatrixError(413, 'M_TOO_LARGE', msg);
export const limitExceeded = (retryAfterMs: number) =>
  new MatrixError(429, 'M_LIMIT_EXCEEDED', 'Too many requests.', { retry_after_ms: retryAfterMs });
export const userDeactivated = () => new MatrixError(403, 'M_USER_DEACTIVATED', 'This account has been deactivated.');
export const unknown = (msg: string) => new MatrixError(400, 'M_UNKNOWN', msg);
export const roomInUse = () => new MatrixError(400, 'M_ROOM_IN_USE', 'Room alias already taken.');
export const unsupportedRoomVersion = (v: string) =>
  new MatrixError(400, 'M_UNSUPPORTED_ROOM_VERSION', `Room version ${v} is not supported.`);
export const guestAccessForbidden = () => new MatrixError(403, 'M_GUEST_ACCESS_FORBIDDEN', 'Guest access is not allowed.');
export const registrationDisabled = () => new MatrixError(403, 'M_FORBIDDEN', 'Registration is disabled.');
export const cannotOverwriteMedia = () => new MatrixError(409, 'M_CANNOT_OVERWRITE_MEDIA', 'Media already uploaded.');
export const notYetUploaded = () => new MatrixError(504, 'M_NOT_YET_UPLOADED', 'Content has not yet been uploaded.');
