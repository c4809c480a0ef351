import type { Knex } from 'knex';
import { z } from 'zod';
import { recordAudit } from '../../audit/audit-log.ts';
import { notFound } from '../../errors.ts';
import type { Logger } from '../../logger.ts';
import * as contactsRepo from '../../storage/contacts.ts';
import * as usersRepo from '../../storage/users.ts';

export const E164 = /^\+[1-9]\d{6,14}$/;

export const contactsSchema = z.object({
  email: z.email().max(254).nullable().optional(),
  phone: z.string().regex(E164, 'must be an E.164 number such as +33612345678').nullable().optional(),
  language: z.string().regex(/^[a-z]{2}(-[A-Z]{2})?$/).nullable().optional(),
});

/** Where alerts reach a person outside Matrix: email and mobile phone (E.164). */
export class ContactsService {
  readonly schema = contactsSchema;
  readonly #db: Knex;
  readonly #log: Logger;

  constructor(db: Knex, log: Logger) {
    this.#db = db;
    this.#log = log;
  }

  async set(userId: string, input: z.infer<typeof contactsSchema>, source = 'admin'): Promise<void> {
    if (!(await usersRepo.findUser(this.#db, userId))) throw notFound('Unknown user.');
    const current = (await contactsRepo.contactsOf(this.#db, [userId])).get(userId);
    await contactsRepo.upsertContacts(this.#db, {
      user_id: userId,
      email: input.email === undefined ? (current?.email ?? null) : input.email,
      phone: input.phone === undefined ? (current?.phone ?? null) : input.phone,
      language: input.language === undefined ? (current?.language ?? null) : input.language,
      source,
      updated_ts: Date.now(),
    });
  }

  /** An administrative read of someone else's data: audit-logged. */
  async get(adminId: string, userId: string): Promise<Record<string, unknown>> {
    const row = (await contactsRepo.contactsOf(this.#db, [userId])).get(userId);
    if (adminId !== userId) await recordAudit(this.#db, this.#log, { actor: adminId, action: 'contacts.read', target_user: userId, details: { found: row !== undefined } });
    if (!row) throw notFound('No contacts for this user.');
    return { email: row.email, phone: row.phone, language: row.language, source: row.source };
  }
}
