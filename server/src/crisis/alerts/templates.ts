import type { Knex } from 'knex';
import { z } from 'zod';
import { forbidden, notFound } from '../../errors.ts';
import type { Requester } from '../../http/route.ts';
import * as templatesRepo from '../../storage/alert-templates.ts';
import { createAlertSchema, type CreateAlertInput } from './alert-input.ts';

/** Template names go in URLs and CLI arguments: short, lower case, no spaces. */
export const templateNameSchema = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'a template name is 1 to 64 of a-z 0-9 . _ -');

/** A template fixes any of the alert's fields; whatever the sender gives at send time wins. */
export const templateSchema = createAlertSchema
  .partial()
  .refine((t) => Object.keys(t).length > 0, 'a template fixes at least one field');

/** POST /_tocsin/v1/alerts: the contract's fields, or a template and the fields that differ. */
export const alertRequestSchema = createAlertSchema.partial().extend({ template: templateNameSchema.optional() });

export type AlertRequest = z.infer<typeof alertRequestSchema>;

/** Templates for recurring alerts: kept, listed and expanded for those who may send alerts. */
export class AlertTemplates {
  readonly #db: Knex;
  readonly #canSend: (requester: Requester) => Promise<boolean>;

  constructor(db: Knex, canSend: (requester: Requester) => Promise<boolean>) {
    this.#db = db;
    this.#canSend = canSend;
  }

  async #allowed(requester: Requester): Promise<void> {
    if (!(await this.#canSend(requester))) throw forbidden('Only alert senders and administrators use alert templates.');
  }

  async put(requester: Requester, name: string, alert: z.infer<typeof templateSchema>): Promise<void> {
    await this.#allowed(requester);
    templateNameSchema.parse(name);
    await templatesRepo.putTemplate(this.#db, { name, alert, updated_by: requester.userId, updated_ts: Date.now() });
  }

  async get(requester: Requester, name: string): Promise<templatesRepo.TemplateRow> {
    await this.#allowed(requester);
    const template = await templatesRepo.getTemplate(this.#db, name);
    if (!template) throw notFound('Unknown alert template.');
    return template;
  }

  async list(requester: Requester): Promise<templatesRepo.TemplateRow[]> {
    await this.#allowed(requester);
    return templatesRepo.listTemplates(this.#db);
  }

  async remove(requester: Requester, name: string): Promise<void> {
    await this.#allowed(requester);
    if (!(await templatesRepo.deleteTemplate(this.#db, name))) throw notFound('Unknown alert template.');
  }

  /** The alert to create: the template's fields under the request's own; checked whole. */
  async expand(requester: Requester, request: AlertRequest): Promise<CreateAlertInput> {
    const { template, ...fields } = request;
    if (template === undefined) return createAlertSchema.parse(fields);
    const saved = await this.get(requester, template);
    return createAlertSchema.parse({ ...saved.alert, ...fields });
  }
}
