// Since room version 3 an event ID is not part of the event: it is derived
// from the event's reference hash. Our Pdu type still carries `event_id` for
// convenience, so everything that hashes or signs an event must first take
// it off, or the ID would depend on itself (and would not match what any
// other implementation computes from the same event).

/** Shallow copy of `event` as it exists on the wire: without `event_id`. */
export function wireForm(event: object): Record<string, unknown> {
  const { event_id: _eventId, ...rest } = event as Record<string, unknown>;
  return rest;
}
