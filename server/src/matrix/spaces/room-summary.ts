import type { Pdu } from '../events/pdu.ts';
import type { SpaceChild } from './children.ts';

/** One room of a hierarchy page: the spec's RoomSummary plus `children_state`. */
export type HierarchyRoom = Record<string, unknown> & { room_id: string; children_state: SpaceChild['stripped'][] };

/** The summary of a room from its current state (see storage/spaces.ts for the types read). */
export function roomSummary(roomId: string, state: Pdu[], joined: number, children: SpaceChild[]): HierarchyRoom {
  const content = (type: string) => state.find((e) => e.type === type && e.state_key === '')?.content ?? {};
  const entry: HierarchyRoom = {
    room_id: roomId,
    num_joined_members: joined,
    world_readable: content('m.room.history_visibility').history_visibility === 'world_readable',
    guest_can_join: content('m.room.guest_access').guest_access === 'can_join',
    children_state: children.map((c) => c.stripped),
  };
  const strings: Array<[string, unknown]> = [
    ['name', content('m.room.name').name],
    ['topic', content('m.room.topic').topic],
    ['canonical_alias', content('m.room.canonical_alias').alias],
    ['avatar_url', content('m.room.avatar').url],
    ['join_rule', content('m.room.join_rules').join_rule],
    ['room_type', content('m.room.create').type],
  ];
  // Malformed state (a number for a name) is left out rather than breaking the schema.
  for (const [key, value] of strings) if (typeof value === 'string' && value !== '') entry[key] = value;
  return entry;
}
