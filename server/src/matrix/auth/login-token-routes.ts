import { MatrixError } from '../../errors.ts';
import { userRoute, type RouteDef } from '../../http/route.ts';

/**
 * Whether users may mint `m.login.token` tokens for another client (spec: POST
 * /login/get_token, the `m.get_login_token` capability). Tocsin does not offer it: a token that
 * logs in a new device without the password would bypass the directory's control of who gets
 * in. /capabilities says so from this constant, and GET /login lists no m.login.token flow.
 */
export const LOGIN_TOKENS_OFFERED = false;

export function loginTokenRoutes(): RouteDef[] {
  return [
    // The spec's answer for a user who may not generate tokens: 400 with an error, at once (no
    // UIA challenge: no stage could make the answer change).
    userRoute('POST', '/_matrix/client/v1/login/get_token', () => {
      throw new MatrixError(400, 'M_FORBIDDEN', 'This server does not issue login tokens (capability m.get_login_token is disabled).');
    }),
  ];
}
