import { z } from 'zod';

export const CHANNELS = ['matrix', 'webpush', 'sms', 'email'] as const;

/** One timed step of a recipient's delivery plan. */
export const escalationStepSchema = z.object({
  after_s: z.number().int().min(0).max(7 * 24 * 3600),
  channels: z.array(z.enum(CHANNELS)).min(1).max(4),
});

export const escalationSchema = z.array(escalationStepSchema).min(1).max(10);

export type EscalationPlan = z.infer<typeof escalationSchema>;

/** DESIGN.md's default: Matrix and push at once, SMS after a minute, email and SMS after five. */
export const DEFAULT_ESCALATION: EscalationPlan = [
  { after_s: 0, channels: ['matrix', 'webpush'] },
  { after_s: 60, channels: ['sms'] },
  { after_s: 300, channels: ['email', 'sms'] },
];

/** Steps sorted by time; the same channel may come back at a later step (an SMS reminder). */
export function normalisePlan(plan: EscalationPlan): EscalationPlan {
  return [...plan].sort((a, b) => a.after_s - b.after_s).map((s) => ({ after_s: s.after_s, channels: [...new Set(s.channels)] }));
}
