import { z } from 'zod';
import { userRoute, type RouteDef } from '../../http/route.ts';
import type { Services } from '../../services.ts';
import { roomEventFilterSchema } from '../sync/filters.ts';
import { SearchService } from './search-service.ts';

// Large counts are clamped by the service, not refused: a client asking for 10^9 lines of
// context gets the most the server gives.
const count = z.number().int().min(0);

const searchBody = z
  .object({
    search_categories: z
      .object({
        room_events: z
          .object({
            search_term: z.string().max(4096),
            keys: z.array(z.enum(['content.body', 'content.name', 'content.topic'])).max(3).optional(),
            filter: roomEventFilterSchema.optional(),
            order_by: z.enum(['rank', 'recent']).optional(),
            event_context: z
              .object({ before_limit: count.optional(), after_limit: count.optional(), include_profile: z.boolean().optional() })
              .loose()
              .optional(),
            include_state: z.boolean().optional(),
            groupings: z
              .object({ group_by: z.array(z.object({ key: z.enum(['room_id', 'sender']).optional() }).loose()).max(2).optional() })
              .loose()
              .optional(),
          })
          .loose()
          .optional(),
      })
      .loose(),
  })
  .loose();

export function searchRoutes(s: Services): RouteDef[] {
  const search = new SearchService(s.db, s.bus, s.relations);
  return [
    userRoute(
      'POST',
      '/_matrix/client/v3/search',
      async ({ requester, body, query }) => {
        const criteria = body.search_categories.room_events;
        // Only the room_events category exists in the spec; a request without it finds nothing.
        if (!criteria) return { search_categories: {} };
        return search.roomEvents(requester, criteria, query.next_batch);
      },
      { body: searchBody },
    ),
  ];
}
