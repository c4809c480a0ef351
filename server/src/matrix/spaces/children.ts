import type { Pdu } from '../events/pdu.ts';
import { isValidRoomId } from '../auth/user-ids.ts';

/** A valid `m.space.child` link of a space, as the hierarchy lists it. */
export interface SpaceChild {
  roomId: string;
  suggested: boolean;
  /** The stripped event with its `origin_server_ts`, as `children_state` carries it. */
  stripped: { type: 'm.space.child'; state_key: string; content: Record<string, unknown>; sender: string; origin_server_ts: number };
  order: string | undefined;
  ts: number;
}

/**
 * The spec removes a child by clearing `via` (redaction does that too): only a non-empty list
 * of server names keeps the link.
 */
function hasVia(content: Record<string, unknown>): boolean {
  const via = content.via;
  return Array.isArray(via) && via.length > 0 && via.every((v) => typeof v === 'string' && v !== '');
}

/** The spec's valid `order`: at most 50 characters, each between \x20 and \x7E. */
function validOrder(order: unknown): string | undefined {
  return typeof order === 'string' && order.length <= 50 && /^[\x20-\x7E]*$/.test(order) ? order : undefined;
}

const byCodePoint = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The valid children of a space from its `m.space.child` state events, in the spec's order:
 * those with a valid `order` first (by code point), then by the event's timestamp, then by
 * room ID.
 */
export function spaceChildren(events: Pdu[]): SpaceChild[] {
  const children: SpaceChild[] = [];
  for (const e of events) {
    if (e.type !== 'm.space.child' || e.state_key === undefined || !isValidRoomId(e.state_key)) continue;
    if (!hasVia(e.content)) continue;
    children.push({
      roomId: e.state_key,
      suggested: e.content.suggested === true,
      stripped: { type: 'm.space.child', state_key: e.state_key, content: e.content, sender: e.sender, origin_server_ts: e.origin_server_ts },
      order: validOrder(e.content.order),
      ts: e.origin_server_ts,
    });
  }
  return children.sort((a, b) => {
    if (a.order !== undefined && b.order === undefined) return -1;
    if (a.order === undefined && b.order !== undefined) return 1;
    if (a.order !== undefined && b.order !== undefined && a.order !== b.order) return byCodePoint(a.order, b.order);
    if (a.ts !== b.ts) return a.ts - b.ts;
    return byCodePoint(a.roomId, b.roomId);
  });
}
