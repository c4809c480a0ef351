import { DateTime, IANAZone } from 'luxon';
import { z } from 'zod';

const hhmm = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be HH:MM (24 h)');

export const quietHoursSchema = z.object({
  time_zone: z.string().max(64).refine((tz) => IANAZone.isValidZone(tz), 'must be an IANA time zone such as Europe/Paris'),
  start: hhmm,
  end: hhmm,
});

export type QuietHours = z.infer<typeof quietHoursSchema>;

function minutes(s: string): number {
  const [h, m] = s.split(':').map(Number) as [number, number];
  return h * 60 + m;
}

/**
 * When `at` falls inside the daily quiet period (in the user's time zone, across midnight
 * when start > end), the time it ends; otherwise undefined. Daylight-saving days are handled
 * by computing the end as a local wall-clock time.
 */
export function quietUntil(q: QuietHours, at: number): number | undefined {
  const local = DateTime.fromMillis(at, { zone: q.time_zone });
  const now = local.hour * 60 + local.minute;
  const start = minutes(q.start);
  const end = minutes(q.end);
  if (start === end) return undefined;
  const inside = start < end ? now >= start && now < end : now >= start || now < end;
  if (!inside) return undefined;
  let endDay = local.startOf('day');
  if (start > end && now >= start) endDay = endDay.plus({ days: 1 });
  return endDay.set({ hour: Math.floor(end / 60), minute: end % 60 }).toMillis();
}
