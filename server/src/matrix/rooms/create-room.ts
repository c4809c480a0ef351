import { randomBytes } from 'node:crypto';
import { MatrixError, invalidParam, roomInUse, unsupportedRoomVersion } from '../../errors.ts';
import * as aliasesRepo from '../../storage/aliases.ts';
import * as roomsRepo from '../../storage/rooms.ts';
import { isValidUserId } from '../auth/user-ids.ts';
import { DEFAULT_ROOM_VERSION, SUPPORTED_ROOM_VERSIONS, type JsonObject, type RoomVersion } from '../events/pdu.ts';
import type { NewEvent } from '../timeline/append.ts';
import type { RoomContext } from './context.ts';

export interface CreateRoomRequest {
  visibility?: 'public' | 'private' | undefined;
  room_alias_name?: string | undefined;
  name?: string | undefined;
  topic?: string | undefined;
  invite?: string[] | undefined;
  room_version?: string | undefined;
  creation_content?: JsonObject | undefined;
  initial_state?: Array<{ type: string; state_key?: string | undefined; content: JsonObject }> | undefined;
  preset?: 'private_chat' | 'public_chat' | 'trusted_private_chat' | undefined;
  is_direct?: boolean | undefined;
  power_level_content_override?: JsonObject | undefined;
}

export function newRoomId(serverName: string): string {
  return `!${randomBytes(12).toString('base64url')}:${serverName}`;
}

/** Builds the spec's sequence of initial events and writes them in one transaction. */
export async function createRoom(ctx: RoomContext, creator: string, req: CreateRoomRequest): Promise<{ room_id: string; room_alias?: string }> {
  const version = (req.room_version ?? DEFAULT_ROOM_VERSION) as RoomVersion;
  if (!SUPPORTED_ROOM_VERSIONS.includes(version)) throw unsupportedRoomVersion(String(req.room_version));
  const preset = req.preset ?? (req.visibility === 'public' ? 'public_chat' : 'private_chat');
  const invites = [...new Set(req.invite ?? [])];
  for (const u of invites) {
    if (!isValidUserId(u)) throw invalidParam(`Not a user id: ${u}`);
    if (!(await ctx.accounts.getUser(u))) throw new MatrixError(404, 'M_NOT_FOUND', `Unknown user ${u}.`);
  }
  const roomId = newRoomId(ctx.serverName);
  let alias: string | undefined;
  if (req.room_alias_name !== undefined) {
    if (!/^[^:\s#]+$/.test(req.room_alias_name)) throw new MatrixError(400, 'M_INVALID_PARAM', 'Invalid room_alias_name.');
    alias = `#${req.room_alias_name}:${ctx.serverName}`;
    if (alias.length > 255) throw new MatrixError(400, 'M_INVALID_PARAM', 'Alias too long.');
    if (await aliasesRepo.findAlias(ctx.db, alias)) throw roomInUse();
  }

  const profile = await ctx.accounts.getUser(creator);
  const createContent: JsonObject = { ...(req.creation_content ?? {}), room_version: version };
  if (version === '10') createContent.creator = creator;
  else delete createContent.creator;

  const users: JsonObject = { [creator]: 100 };
  if (preset === 'trusted_private_chat') for (const u of invites) users[u] = 100;
  const powerLevels: JsonObject = {
    users,
    users_default: 0,
    events: {
      'm.room.name': 50,
      'm.room.power_levels': 100,
      'm.room.history_visibility': 100,
      'm.room.canonical_alias': 50,
      'm.room.avatar': 50,
      'm.room.tombstone': 100,
      'm.room.server_acl': 100,
      'm.room.encryption': 100,
    },
    events_default: 0,
    state_default: 50,
    ban: 50,
    kick: 50,
    redact: 50,
    invite: 0,
    notifications: { room: 50 },
    ...(req.power_level_content_override ?? {}),
  };

  const events: NewEvent[] = [
    { type: 'm.room.create', state_key: '', sender: creator, content: createContent },
    { type: 'm.room.member', state_key: creator, sender: creator, content: memberContent('join', profile) },
    { type: 'm.room.power_levels', state_key: '', sender: creator, content: powerLevels },
  ];
  if (alias) events.push({ type: 'm.room.canonical_alias', state_key: '', sender: creator, content: { alias } });
  const presetState: Array<[string, JsonObject]> = [
    ['m.room.join_rules', { join_rule: preset === 'public_chat' ? 'public' : 'invite' }],
    ['m.room.history_visibility', { history_visibility: 'shared' }],
  ];
  if (preset !== 'public_chat') presetState.push(['m.room.guest_access', { guest_access: 'can_join' }]);
  // initial_state overrides the preset's events of the same type and key.
  const initial = (req.initial_state ?? []).map((s) => ({ type: s.type, state_key: s.state_key ?? '', content: s.content }));
  for (const [type, content] of presetState) {
    if (!initial.some((s) => s.type === type && s.state_key === '')) events.push({ type, state_key: '', sender: creator, content });
  }
  for (const s of initial) {
    if (s.type === 'm.room.create' || s.type === 'm.room.member' || s.type === 'm.room.power_levels') {
      throw invalidParam(`initial_state may not contain ${s.type}.`);
    }
    events.push({ type: s.type, state_key: s.state_key, sender: creator, content: s.content });
  }
  if (req.name !== undefined) events.push({ type: 'm.room.name', state_key: '', sender: creator, content: { name: req.name } });
  if (req.topic !== undefined) {
    events.push({
      type: 'm.room.topic',
      state_key: '',
      sender: creator,
      content: { topic: req.topic, 'm.topic': [{ body: req.topic, mimetype: 'text/plain' }] },
    });
  }
  for (const u of invites) {
    const invitee = await ctx.accounts.getUser(u);
    const content = memberContent('invite', invitee);
    if (req.is_direct) content.is_direct = true;
    events.push({ type: 'm.room.member', state_key: u, sender: creator, content });
  }

  await ctx.writer.append(roomId, events, {
    before: async (trx) => {
      await roomsRepo.insertRoom(trx, {
        room_id: roomId,
        room_version: version,
        creator,
        published: req.visibility === 'public',
        created_ts: Date.now(),
      });
      if (alias && !(await aliasesRepo.insertAlias(trx, alias, roomId, creator))) throw roomInUse();
    },
  }).catch((err: unknown) => {
    // An initial event the auth rules refuse means the requested state cannot exist (spec: 400).
    if (err instanceof MatrixError && err.errcode === 'M_FORBIDDEN') throw new MatrixError(400, 'M_INVALID_ROOM_STATE', err.message);
    throw err;
  });
  return alias ? { room_id: roomId, room_alias: alias } : { room_id: roomId };
}

export function memberContent(membership: string, profile: { displayname: string | null; avatar_url: string | null } | undefined): JsonObject {
  const content: JsonObject = { membership };
  if (profile?.displayname) content.displayname = profile.displayname;
  if (profile?.avatar_url) content.avatar_url = profile.avatar_url;
  return content;
}
