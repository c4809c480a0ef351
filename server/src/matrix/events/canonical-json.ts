// Canonical JSON (spec appendix "Signing JSON" > "Canonical JSON").
//
// Hashes, event IDs and signatures are computed over these bytes, so two
// servers (or this server today and next year) must produce exactly the same
// string for the same value. JSON.stringify is close but not enough: it keeps
// insertion order, accepts floats, and sorts nothing.

export class CanonicalJsonError extends Error {
  override name = 'CanonicalJsonError';
}

// The spec bounds numbers to what an IEEE double represents exactly, so every
// implementation agrees on the value; this is precisely the "safe integer" range.
const MIN_INT = -(2 ** 53) + 1;
const MAX_INT = 2 ** 53 - 1;

/**
 * Encode `value` as canonical JSON. The result is a JS string; encode it as
 * UTF-8 (Buffer.from(s, 'utf8')) to get the bytes that are hashed/signed.
 *
 * Object properties whose value is `undefined` are skipped (as JSON.stringify
 * does) so optional fields of typed objects can be passed directly.
 * Throws CanonicalJsonError for anything that is not representable.
 */
export function canonicalJson(value: unknown): string {
  return encode(value, new Set<object>(), '$');
}

function encode(value: unknown, ancestors: Set<object>, path: string): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      return encodeNumber(value, path);
    case 'bigint':
      if (value < BigInt(MIN_INT) || value > BigInt(MAX_INT)) {
        throw new CanonicalJsonError(`${path}: integer ${value} is outside the canonical JSON range`);
      }
      return value.toString();
    case 'string':
      return encodeString(value, path);
    case 'object':
      break;
    default:
      throw new CanonicalJsonError(`${path}: ${typeof value} cannot be encoded as JSON`);
  }

  const obj = value as object;
  if (ancestors.has(obj)) throw new CanonicalJsonError(`${path}: cyclic structure`);
  ancestors.add(obj);
  try {
    if (Array.isArray(obj)) {
      const parts = obj.map((item: unknown, i) => {
        // An array hole/undefined has no JSON meaning; silently writing null
        // (JSON.stringify's choice) would sign something the caller never meant.
        if (item === undefined) throw new CanonicalJsonError(`${path}[${i}]: undefined in array`);
        return encode(item, ancestors, `${path}[${i}]`);
      });
      return `[${parts.join(',')}]`;
    }
    const proto: unknown = Object.getPrototypeOf(obj);
    if (proto !== Object.prototype && proto !== null) {
      // Dates, Buffers, Maps... have no single obvious JSON form; refuse rather than guess.
      throw new CanonicalJsonError(`${path}: only plain objects and arrays can be encoded`);
    }
    const record = obj as Record<string, unknown>;
    const keys = Object.keys(record)
      .filter((k) => record[k] !== undefined)
      .sort(compareCodePoints);
    const members = keys.map(
      (k) => `${encodeString(k, `${path} key`)}:${encode(record[k], ancestors, `${path}.${k}`)}`,
    );
    return `{${members.join(',')}}`;
  } finally {
    ancestors.delete(obj);
  }
}

function encodeNumber(n: number, path: string): string {
  if (!Number.isInteger(n)) {
    throw new CanonicalJsonError(`${path}: ${n} is not an integer (floats are not allowed)`);
  }
  if (n < MIN_INT || n > MAX_INT) {
    throw new CanonicalJsonError(`${path}: integer ${n} is outside the canonical JSON range`);
  }
  // -0 must be written as 0; String() also never uses exponents in this range.
  return Object.is(n, -0) ? '0' : String(n);
}

// Lone surrogates cannot be encoded as UTF-8, so the "UTF-8 JSON" the spec
// demands does not exist for them; JSON.stringify would emit a \ud8xx escape
// that the canonical grammar does not allow.
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function encodeString(s: string, path: string): string {
  if (LONE_SURROGATE.test(s)) throw new CanonicalJsonError(`${path}: string contains a lone surrogate`);
  // With lone surrogates excluded, JSON.stringify's escaping is exactly the
  // canonical grammar: \" \\ \b \t \n \f \r, \u00XX (lower-case hex) for the
  // remaining control characters, and everything else (incl. non-ASCII) raw.
  return JSON.stringify(s);
}

/**
 * Order strings by Unicode code point. JS `<` compares UTF-16 code units,
 * which disagrees with code point order when a supplementary character (a
 * surrogate pair, 0xD800-0xDFFF) meets a BMP character above 0xDFFF.
 */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const ca = a.charCodeAt(i);
    const cb = b.charCodeAt(i);
    if (ca === cb) continue;
    // First differing unit: surrogates stand for code points >= 0x10000, so
    // they rank above every other BMP unit.
    const sa = ca >= 0xd800 && ca <= 0xdfff;
    const sb = cb >= 0xd800 && cb <= 0xdfff;
    if (sa !== sb) return sa ? 1 : -1;
    return ca - cb;
  }
  return a.length - b.length;
}
