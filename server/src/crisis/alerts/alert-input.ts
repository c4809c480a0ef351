import { z } from 'zod';
import { escalationSchema } from './escalation.ts';

export const SEVERITIES = ['info', 'warning', 'critical'] as const;

/** Body of POST /_tocsin/v1/alerts (DESIGN.md's operator contract, plus optional extras). */
export const createAlertSchema = z.object({
  severity: z.enum(SEVERITIES),
  title: z.string().trim().min(1).max(120),
  // The short text: the SMS composer fits it with the link into one segment when it can.
  body: z.string().trim().min(1).max(480),
  audience: z.array(z.string().min(2).max(255)).min(1).max(200),
  drill: z.boolean().optional(),
  escalation: escalationSchema.optional(),
  expires_in_s: z.number().int().min(60).max(7 * 24 * 3600).optional(),
  rollcall: z
    .object({
      question: z.string().trim().min(1).max(200).optional(),
      answers: z.array(z.string().trim().min(1).max(40)).min(2).max(6),
    })
    .optional(),
});

export type CreateAlertInput = z.infer<typeof createAlertSchema>;
