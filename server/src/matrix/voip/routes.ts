import { createHmac } from 'node:crypto';
import { userRoute, type RouteDef } from '../../http/route.ts';
import type { Services } from '../../services.ts';

/**
 * TURN credentials for calls, in the time-limited form of the TURN REST API that coturn's
 * `use-auth-secret` checks: username `<expiry>:<user>`, password base64(HMAC-SHA1(secret,
 * username)). With no TURN server configured the answer is `{}`, as Synapse gives, and
 * clients fall back to STUN or direct connections.
 */
export function voipRoutes(s: Services): RouteDef[] {
  const voip = s.config.file.voip;
  return [
    userRoute('GET', '/_matrix/client/v3/voip/turnServer', ({ requester }) => {
      if (!voip?.turn_uris?.length || !voip.turn_shared_secret) return {};
      const ttl = voip.turn_user_lifetime_s ?? 86_400;
      const username = `${Math.floor(Date.now() / 1000) + ttl}:${requester.userId}`;
      const password = createHmac('sha1', voip.turn_shared_secret).update(username).digest('base64');
      return { username, password, uris: voip.turn_uris, ttl };
    }),
  ];
}
