import { userRoute, type RouteDef } from '../../http/route.ts';
import type { Services } from '../../services.ts';
import { contactsOf } from '../../storage/contacts.ts';

export function thirdPartyRoutes(s: Services): RouteDef[] {
  return [
    // No bridge registers third-party protocols yet.
    userRoute('GET', '/_matrix/client/v3/thirdparty/protocols', () => ({})),
    // The contacts an administrator or the directory set for alerts, shown as the account's
    // third-party identifiers (read only: m.3pid_changes is off in /capabilities).
    userRoute('GET', '/_matrix/client/v3/account/3pid', async ({ requester }) => {
      const c = (await contactsOf(s.db, [requester.userId])).get(requester.userId);
      const at = c?.updated_ts ?? 0;
      const threepids = [];
      if (c?.email) threepids.push({ medium: 'email', address: c.email, validated_at: at, added_at: at });
      // msisdn is the number without its "+" (E.164 digits).
      if (c?.phone) threepids.push({ medium: 'msisdn', address: c.phone.replace(/^\+/, ''), validated_at: at, added_at: at });
      return { threepids };
    }),
  ];
}
