import { invalidParam, invalidUsername } from '../../errors.ts';

// The spec's historical-compatible grammar for new localparts.
const LOCALPART = /^[a-z0-9._=\-/+]+$/;

export function validateLocalpart(localpart: string, serverName: string): void {
  if (!LOCALPART.test(localpart)) {
    throw invalidUsername('User ID may only contain a-z, 0-9, and . _ = - / +');
  }
  if (`@${localpart}:${serverName}`.length > 255) throw invalidUsername('User ID is too long.');
}

export function userIdOf(localpart: string, serverName: string): string {
  return `@${localpart}:${serverName}`;
}

/** The localpart of a local user id, or of a bare name ("alice"). */
export function localpartOf(userOrLocalpart: string, serverName: string): string {
  if (!userOrLocalpart.startsWith('@')) return userOrLocalpart.toLowerCase();
  const colon = userOrLocalpart.indexOf(':');
  if (colon < 0 || userOrLocalpart.slice(colon + 1) !== serverName) {
    throw invalidParam('Not a user of this server.');
  }
  return userOrLocalpart.slice(1, colon).toLowerCase();
}

export function isValidUserId(id: string): boolean {
  return /^@[^:\s]+:[A-Za-z0-9.\-[\]]+(:\d+)?$/.test(id) && id.length <= 255;
}

export function isValidRoomId(id: string): boolean {
  return /^![^:\s]+:[A-Za-z0-9.\-[\]]+(:\d+)?$/.test(id) && id.length <= 255;
}

export function isValidRoomAlias(alias: string): boolean {
  return /^#[^:\s]+:[A-Za-z0-9.\-[\]]+(:\d+)?$/.test(alias) && alias.length <= 255;
}
