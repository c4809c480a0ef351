import { z } from 'zod';
import { invalidParam } from '../../errors.ts';
import { publicRoute, userRoute, type RouteDef } from '../../http/route.ts';
import type { Services } from '../../services.ts';
import { currentStateEvents } from '../../storage/events.ts';
import { joinedRoomCounts } from '../../storage/memberships.ts';
import { publishedRooms } from '../../storage/rooms.ts';
import { searchUsers } from '../../storage/users.ts';
import { checkRoomId } from '../rooms/routes.ts';
import { roomVisibility, setRoomVisibility } from './room-visibility.ts';

const V3 = '/_matrix/client/v3';
const PAGE_MAX = 100;

/** The room directory: published rooms whose join rule is still public, as chunks of the spec. */
async function publicRoomsPage(s: Services, limit: number, since: string | undefined, term: string | undefined) {
  const offset = since === undefined ? 0 : Number(/^o(\d{1,9})$/.exec(since)?.[1] ?? NaN);
  if (!Number.isInteger(offset)) throw invalidParam('Bad since token.');
  // Rooms are few (a directory lists a crisis cell's rooms, not a federation's): filtering
  // after reading them keeps the SQL the rooms repository already has.
  const rows = await publishedRooms(s.db, 10_000, 0);
  const counts = await joinedRoomCounts(s.db, rows.map((r) => r.room_id));
  const chunk = [];
  const needle = term?.trim().toLowerCase();
  for (const row of rows) {
    const state = await currentStateEvents(s.db, row.room_id, [
      ['m.room.join_rules', ''], ['m.room.name', ''], ['m.room.topic', ''], ['m.room.canonical_alias', ''],
      ['m.room.avatar', ''], ['m.room.history_visibility', ''], ['m.room.guest_access', ''], ['m.room.create', ''],
    ]);
    const content = (type: string) => state.find((e) => e.pdu.type === type)?.pdu.content ?? {};
    if (content('m.room.join_rules').join_rule !== 'public') continue;
    const entry: Record<string, unknown> = {
      room_id: row.room_id,
      num_joined_members: counts.get(row.room_id)?.joined ?? 0,
      world_readable: content('m.room.history_visibility').history_visibility === 'world_readable',
      guest_can_join: content('m.room.guest_access').guest_access === 'can_join',
      join_rule: 'public',
    };
    const strings: Array<[string, unknown]> = [
      ['name', content('m.room.name').name], ['topic', content('m.room.topic').topic],
      ['canonical_alias', content('m.room.canonical_alias').alias], ['avatar_url', content('m.room.avatar').url],
      ['room_type', content('m.room.create').type],
    ];
    for (const [key, value] of strings) if (typeof value === 'string' && value !== '') entry[key] = value;
    if (needle && ![entry.name, entry.topic, entry.canonical_alias].some((v) => typeof v === 'string' && v.toLowerCase().includes(needle))) continue;
    chunk.push(entry);
  }
  const page = chunk.slice(offset, offset + limit);
  return {
    chunk: page,
    total_room_count_estimate: chunk.length,
    ...(offset + limit < chunk.length ? { next_batch: `o${offset + limit}` } : {}),
    ...(offset > 0 ? { prev_batch: `o${Math.max(0, offset - limit)}` } : {}),
  };
}

function limitOf(value: unknown): number {
  if (value === undefined) return 50;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw invalidParam('limit must be a positive integer.');
  return Math.min(n, PAGE_MAX);
}

/** Only this server's directory: there is no federation to ask another one. */
function checkServer(s: Services, server: string | undefined): void {
  if (server !== undefined && server !== s.config.serverName) throw invalidParam('Only this server’s room directory is available.');
}

export function roomDirectoryRoutes(s: Services): RouteDef[] {
  return [
    // The spec lets servers answer this one without a token; this one keeps its directory to members.
    userRoute('GET', `${V3}/publicRooms`, async ({ query }) => {
      checkServer(s, query.server);
      return publicRoomsPage(s, limitOf(query.limit), query.since, undefined);
    }),
    userRoute(
      'POST',
      `${V3}/publicRooms`,
      async ({ body, query }) => {
        checkServer(s, query.server);
        return publicRoomsPage(s, limitOf(body.limit), body.since, body.filter?.generic_search_term);
      },
      {
        body: z.object({
          limit: z.number().int().optional(),
          since: z.string().max(64).optional(),
          filter: z.object({ generic_search_term: z.string().max(256).optional(), room_types: z.array(z.string().nullable()).optional() }).optional(),
          include_all_networks: z.boolean().optional(),
          third_party_instance_id: z.string().optional(),
        }),
      },
    ),
    // The spec reads a room's directory visibility without a token.
    publicRoute('GET', `${V3}/directory/list/room/:roomId`, async ({ params }) => ({
      visibility: await roomVisibility(s.db, checkRoomId(params.roomId!)),
    })),
    userRoute(
      'PUT',
      `${V3}/directory/list/room/:roomId`,
      async ({ requester, params, body }) => {
        await setRoomVisibility(s.db, requester, checkRoomId(params.roomId!), body.visibility ?? 'public');
        return {};
      },
      { body: z.object({ visibility: z.enum(['public', 'private']).optional() }) },
    ),
    // An institution's directory: every active local account can be found by name or ID.
    userRoute(
      'POST',
      `${V3}/user_directory/search`,
      async ({ body }) => {
        const limit = Math.min(Math.max(body.limit ?? 10, 1), 50);
        const term = body.search_term.trim();
        const rows = term === '' ? [] : await searchUsers(s.db, term, limit + 1);
        return {
          results: rows.slice(0, limit).map((u) => ({
            user_id: u.user_id,
            ...(u.displayname ? { display_name: u.displayname } : {}),
            ...(u.avatar_url ? { avatar_url: u.avatar_url } : {}),
          })),
          limited: rows.length > limit,
        };
      },
      { body: z.object({ search_term: z.string().max(256), limit: z.number().int().optional() }) },
    ),
  ];
}

