import { publicRoute, userRoute, type RouteDef } from '../../http/route.ts';
import type { Services } from '../../services.ts';
import { LOGIN_TOKENS_OFFERED } from '../auth/login-token-routes.ts';
import { DEFAULT_ROOM_VERSION, SUPPORTED_ROOM_VERSIONS } from '../events/pdu.ts';

// Only versions whose features are really served: clients switch features on from this list
// (v1.4: threads and thread receipts, served by matrix/relations and receipts; v1.7: bundled
// edits; v1.10: /relations recursion (answered at depth 1); v1.11: authenticated media, which
// makes matrix-js-sdk and Element fetch images from /_matrix/client/v1/media).
export const SPEC_VERSIONS = ['v1.1', 'v1.2', 'v1.3', 'v1.4', 'v1.5', 'v1.6', 'v1.7', 'v1.8', 'v1.9', 'v1.10', 'v1.11'];

export function discoveryRoutes(s: Services): RouteDef[] {
  const wellKnown = { 'm.homeserver': { base_url: `${s.config.publicBaseUrl}/` } };
  return [
    publicRoute('GET', '/_matrix/client/versions', () => ({ versions: SPEC_VERSIONS, unstable_features: {} })),
    publicRoute('GET', '/.well-known/matrix/client', () => wellKnown),
    publicRoute('GET', '/health', async () => {
      await s.db.raw('SELECT 1');
      return { status: 'ok' };
    }),
    userRoute('GET', '/_matrix/client/v3/capabilities', () => ({
      capabilities: {
        'm.change_password': { enabled: true },
        'm.room_versions': {
          default: DEFAULT_ROOM_VERSION,
          available: Object.fromEntries(SUPPORTED_ROOM_VERSIONS.map((v) => [v, 'stable'])),
        },
        'm.set_displayname': { enabled: true },
        'm.set_avatar_url': { enabled: true },
        'm.3pid_changes': { enabled: false },
        'm.get_login_token': { enabled: LOGIN_TOKENS_OFFERED },
      },
    })),
  ];
}
