// Helpers of the hostile-input tests (test/http/hostile-input*.int.test.ts): concrete paths
// from a route's pattern, hostile values in any encoding, wrong values for a body field's type.
import { z } from 'zod';
import { enc } from './client.ts';

/** The names of a route pattern's parameters (`:roomId`). */
export function paramsOf(path: string): string[] {
  return [...path.matchAll(/:(\w+)/g)].map((m) => m[1]!);
}

/** Percent-encoding that also writes a lone surrogate (as the bytes of its would-be UTF-8 form). */
export function encAny(s: string): string {
  try {
    return enc(s);
  } catch {
    return s.replace(/[\s\S]/g, (c) => {
      const code = c.charCodeAt(0);
      if (code < 0xd800 || code > 0xdfff) return enc(c);
      return `%${(0xe0 | (code >> 12)).toString(16)}%${(0x80 | ((code >> 6) & 0x3f)).toString(16)}%${(0x80 | (code & 0x3f)).toString(16)}`.toUpperCase();
    });
  }
}

/** A concrete path for a route: each param from `values`, with optional segments kept. */
export function fill(path: string, values: Record<string, string>): string {
  return path.replace(/\{\/:(\w+)\}/g, (_m, name: string) => `/${encAny(values[name] ?? '')}`).replace(/:(\w+)/g, (_m, name: string) => encAny(values[name] ?? 'x'));
}

/** The type under optional, nullable and default wrappers. */
export function unwrap(t: z.ZodType): z.ZodType {
  let cur: z.ZodType = t;
  while (cur instanceof z.ZodOptional || cur instanceof z.ZodNullable || cur instanceof z.ZodDefault) cur = (cur as z.ZodOptional<z.ZodType>).unwrap() as z.ZodType;
  return cur;
}

/** Values of a type the field does not accept (nothing for z.unknown()). */
export function wrongValuesFor(t: z.ZodType): unknown[] {
  const inner = unwrap(t);
  if (inner instanceof z.ZodString || inner instanceof z.ZodEnum) return [42, true, ['x'], { x: 1 }];
  if (inner instanceof z.ZodBoolean) return ['true', 1, [], {}];
  if (inner instanceof z.ZodNumber) return ['5', 1.5, true, {}, 1e400];
  if (inner instanceof z.ZodArray) return ['x', 3, { 0: 'x' }, ...(unwrap(inner.element as z.ZodType) instanceof z.ZodString ? [[42]] : [])];
  if (inner instanceof z.ZodRecord || inner instanceof z.ZodObject) return ['x', 3, ['x'], true];
  return [];
}
