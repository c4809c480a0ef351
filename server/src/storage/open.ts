import type { Config } from '../config/config.ts';
import { acquireDataDirLock } from './data-dir-lock.ts';
import { openDatabase, type Database } from './db.ts';

/** Opens the configured database (taking the DATA_DIR lock for the embedded one). */
export async function openConfiguredDatabase(config: Config): Promise<Database> {
  if (config.databaseUrl) return openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  const release = acquireDataDirLock(config.dataDir);
  try {
    const db = await openDatabase({ dataDir: config.dataDir });
    return {
      ...db,
      close: async () => {
        await db.close();
        release();
      },
    };
  } catch (err) {
    release();
    throw err;
  }
}
