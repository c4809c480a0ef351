import type { Knex } from 'knex';
import { z } from 'zod';
import { MatrixError, notFound } from '../../errors.ts';
import * as filtersRepo from '../../storage/filters.ts';

const strings = z.array(z.string().max(1024)).max(1000);

export const eventFilterSchema = z
  .object({
    limit: z.number().int().min(0).optional(),
    types: strings.optional(),
    not_types: strings.optional(),
    senders: strings.optional(),
    not_senders: strings.optional(),
  })
  .loose();

export const roomEventFilterSchema = eventFilterSchema
  .extend({
    rooms: strings.optional(),
    not_rooms: strings.optional(),
    lazy_load_members: z.boolean().optional(),
    include_redundant_members: z.boolean().optional(),
    contains_url: z.boolean().optional(),
    unread_thread_notifications: z.boolean().optional(),
  })
  .loose();

export const filterSchema = z
  .object({
    event_fields: strings.optional(),
    event_format: z.enum(['client', 'federation']).optional(),
    presence: eventFilterSchema.optional(),
    account_data: eventFilterSchema.optional(),
    room: z
      .object({
        rooms: strings.optional(),
        not_rooms: strings.optional(),
        include_leave: z.boolean().optional(),
        timeline: roomEventFilterSchema.optional(),
        state: roomEventFilterSchema.optional(),
        ephemeral: roomEventFilterSchema.optional(),
        account_data: roomEventFilterSchema.optional(),
      })
      .loose()
      .optional(),
  })
  .loose();

export type Filter = z.infer<typeof filterSchema>;
export type EventFilter = z.infer<typeof eventFilterSchema>;
export type RoomEventFilter = z.infer<typeof roomEventFilterSchema>;

/** The `filter` query parameter: inline JSON, or the id of a stored filter. */
export async function resolveFilter(db: Knex, userId: string, param: string | undefined): Promise<Filter> {
  if (!param) return {};
  if (param.trimStart().startsWith('{')) {
    let raw: unknown;
    try {
      raw = JSON.parse(param);
    } catch {
      throw new MatrixError(400, 'M_NOT_JSON', 'filter is not valid JSON.');
    }
    return parseFilter(raw);
  }
  const stored = await filtersRepo.findFilter(db, userId, param);
  if (stored === undefined) throw notFound('No such filter.');
  return parseFilter(stored);
}

export function parseFilter(raw: unknown): Filter {
  const parsed = filterSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new MatrixError(400, 'M_BAD_JSON', `filter.${issue.path.join('.')}: ${issue.message}`);
  }
  return parsed.data;
}

/** Does a type or sender match a filter's lists? Type patterns may end in '*'. */
export function matchesEventFilter(f: EventFilter | undefined, type: string, sender: string): boolean {
  if (!f) return true;
  const typeMatch = (p: string) => (p.endsWith('*') ? type.startsWith(p.slice(0, -1)) : p === type);
  if (f.not_types?.some(typeMatch)) return false;
  if (f.types && !f.types.some(typeMatch)) return false;
  if (f.not_senders?.includes(sender)) return false;
  if (f.senders && !f.senders.includes(sender)) return false;
  return true;
}

export function roomAllowed(f: { rooms?: string[] | undefined; not_rooms?: string[] | undefined } | undefined, roomId: string): boolean {
  if (!f) return true;
  if (f.not_rooms?.includes(roomId)) return false;
  if (f.rooms && !f.rooms.includes(roomId)) return false;
  return true;
}

/** The `filter` parameter of /messages and /context: an inline RoomEventFilter. */
export function parseRoomEventFilter(param: string | undefined): RoomEventFilter | undefined {
  if (!param) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(param);
  } catch {
    throw new MatrixError(400, 'M_NOT_JSON', 'filter is not valid JSON.');
  }
  const parsed = roomEventFilterSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new MatrixError(400, 'M_BAD_JSON', `filter.${issue.path.join('.')}: ${issue.message}`);
  }
  return parsed.data;
}
