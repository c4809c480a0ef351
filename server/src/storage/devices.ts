import type { Knex } from 'knex';

export interface DeviceRow {
  user_id: string;
  device_id: string;
  display_name: string | null;
  created_ts: number;
  last_seen_ts: number | null;
  last_seen_ip: string | null;
}

export async function upsertDevice(db: Knex, row: { user_id: string; device_id: string; display_name: string | null; created_ts: number }): Promise<void> {
  const q = db('devices').insert(row).onConflict(['user_id', 'device_id']);
  // A login that names an existing device keeps it; a new display name replaces the old one.
  await (row.display_name === null ? q.ignore() : q.merge(['display_name']));
}

export async function listDevices(db: Knex, userId: string): Promise<DeviceRow[]> {
  return db('devices').where({ user_id: userId }).orderBy('device_id');
}

export async function findDevice(db: Knex, userId: string, deviceId: string): Promise<DeviceRow | undefined> {
  return db('devices').where({ user_id: userId, device_id: deviceId }).first();
}

export async function renameDevice(db: Knex, userId: string, deviceId: string, name: string): Promise<boolean> {
  return (await db('devices').where({ user_id: userId, device_id: deviceId }).update({ display_name: name })) > 0;
}

export async function deleteDevices(db: Knex, userId: string, deviceIds: string[] | 'all'): Promise<void> {
  const q = db('devices').where({ user_id: userId });
  await (deviceIds === 'all' ? q : q.whereIn('device_id', deviceIds)).delete();
}

export async function touchDevice(db: Knex, userId: string, deviceId: string, ts: number, ip: string | null): Promise<void> {
  await db('devices').where({ user_id: userId, device_id: deviceId }).update({ last_seen_ts: ts, last_seen_ip: ip });
}
