// Just enough of the identifier grammar (spec appendix "Identifier Grammar")
// for the authorization rules, which need the domain of room/user IDs and
// must reject power-level `users` keys that are not user IDs.

/**
 * The server name part of `&localpart:domain`. Localparts of user, room and
 * alias IDs cannot contain ':', so the domain is everything after the first
 * one (and may itself contain ':' for a port or an IPv6 literal).
 */
export function domainOf(id: string): string | undefined {
  const i = id.indexOf(':');
  return i === -1 ? undefined : id.slice(i + 1);
}

const IPV4 = /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;
const IPV6_LITERAL = /^\[[0-9A-Fa-f:.]{2,45}\]$/;
const DNS_NAME = /^[0-9A-Za-z\-.]{1,255}$/;

/** Server name grammar: hostname [":" port]. */
export function isValidServerName(name: string): boolean {
  let host = name;
  const portMatch = /:(\d{1,5})$/.exec(name);
  // An IPv6 literal contains ':' itself, so a port is only split off when
  // what precedes it is not the inside of the brackets.
  if (portMatch && !(name.startsWith('[') && !name.slice(0, portMatch.index).endsWith(']'))) {
    host = name.slice(0, portMatch.index);
  }
  if (IPV6_LITERAL.test(host)) return true;
  if (IPV4.test(host)) return host.split('.').every((octet) => Number(octet) <= 255);
  return DNS_NAME.test(host);
}

/**
 * Whether `id` is acceptable as a user ID in room events. Historical
 * localparts (any code point except ':' and NUL, even empty) must still be
 * accepted for existing rooms, so this is deliberately laxer than the grammar
 * for newly registered users.
 */
export function isValidUserId(id: string): boolean {
  if (!id.startsWith('@')) return false;
  if (Buffer.byteLength(id, 'utf8') > 255) return false;
  const colon = id.indexOf(':');
  if (colon === -1) return false;
  const localpart = id.slice(1, colon);
  if (localpart.includes('\u0000')) return false;
  return isValidServerName(id.slice(colon + 1));
}
