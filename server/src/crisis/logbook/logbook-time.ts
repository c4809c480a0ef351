// Times in exports: ISO 8601 with the offset of the requested time zone, so a spreadsheet
// sorts them and a reader knows which clock they are on (2026-11-25T15:30:00+01:00).

const formats = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formats.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-GB', {
      timeZone,
      year: 'numeric', month: '2-digit', day: '2-digit',
      hour: '2-digit', minute: '2-digit', second: '2-digit',
      hourCycle: 'h23',
      timeZoneName: 'longOffset',
    });
    formats.set(timeZone, f);
  }
  return f;
}

export function isoInZone(ms: number, timeZone: string): string {
  const parts = Object.fromEntries(formatter(timeZone).formatToParts(ms).map((p) => [p.type, p.value]));
  // longOffset is "GMT+01:00", or "GMT" at UTC.
  const offset = (parts.timeZoneName ?? 'GMT').replace(/^GMT/, '') || '+00:00';
  return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}:${parts.second}${offset === '+00:00' ? 'Z' : offset}`;
}

/** For people: "2026-11-25 15:30:00". */
export function readableInZone(ms: number, timeZone: string): string {
  return isoInZone(ms, timeZone).slice(0, 19).replace('T', ' ');
}
