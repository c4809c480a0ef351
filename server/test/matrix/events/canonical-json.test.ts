import { describe, expect, it } from 'vitest';
import { CanonicalJsonError, canonicalJson, compareCodePoints } from '../../../src/matrix/events/canonical-json.ts';

describe('canonicalJson: spec appendix examples', () => {
  const cases: Array<[string, unknown, string]> = [
    ['empty object', {}, '{}'],
    ['simple', { one: 1, two: 'Two' }, '{"one":1,"two":"Two"}'],
    ['sorted', { b: '2', a: '1' }, '{"a":"1","b":"2"}'],
    [
      'nested',
      {
        auth: {
          success: true,
          mxid: '@john.doe:example.com',
          profile: {
            display_name: 'John Doe',
            three_pids: [
              { medium: 'email', address: 'john.doe@example.org' },
              { medium: 'msisdn', address: '123456789' },
            ],
          },
        },
      },
      '{"auth":{"mxid":"@john.doe:example.com","profile":{"display_name":"John Doe","three_pids":[{"address":"john.doe@example.org","medium":"email"},{"address":"123456789","medium":"msisdn"}]},"success":true}}',
    ],
    ['non-ASCII value kept as UTF-8', { a: '日本語' }, '{"a":"日本語"}'],
    ['non-ASCII keys sorted by code point', { 本: 2, 日: 1 }, '{"日":1,"本":2}'],
    ['\\u escape in input is decoded', JSON.parse('{"a": "\\u65E5"}'), '{"a":"日"}'],
    ['null', { a: null }, '{"a":null}'],
    ['-0 and 1e10', { a: -0, b: 1e10 }, '{"a":0,"b":10000000000}'],
  ];
  it.each(cases)('%s', (_name, input, expected) => {
    expect(canonicalJson(input)).toBe(expected);
  });
});

describe('canonicalJson: strings', () => {
  it('escapes only what the grammar requires', () => {
    expect(canonicalJson('"\\')).toBe('"\\"\\\\"');
    expect(canonicalJson('\b\t\n\f\r')).toBe('"\\b\\t\\n\\f\\r"');
    expect(canonicalJson('\u0000\u0001\u000b\u001f')).toBe('"\\u0000\\u0001\\u000b\\u001f"');
    expect(canonicalJson('/\u007f\u2028é')).toBe('"/\u007f\u2028é"');
  });

  it('writes supplementary characters raw', () => {
    expect(canonicalJson({ a: '😀' })).toBe('{"a":"😀"}');
  });

  it('rejects lone surrogates, which have no UTF-8 form', () => {
    expect(() => canonicalJson('\ud800')).toThrow(CanonicalJsonError);
    expect(() => canonicalJson({ ['x\udc00']: 1 })).toThrow(CanonicalJsonError);
  });
});

describe('canonicalJson: structure', () => {
  it('has no whitespace and keeps array order', () => {
    expect(canonicalJson({ z: [3, 1, 2], a: { y: true, x: false } })).toBe('{"a":{"x":false,"y":true},"z":[3,1,2]}');
  });

  it('sorts keys by code point, not UTF-16 unit', () => {
    // U+FF21 (fullwidth A) < U+1F600 by code point, although its UTF-16 unit is larger than the surrogate's.
    expect(canonicalJson({ '😀': 1, 'Ａ': 2 })).toBe('{"Ａ":2,"😀":1}');
    expect(compareCodePoints('a', 'ab')).toBeLessThan(0);
    expect(compareCodePoints('\uffff', '\u{10000}')).toBeLessThan(0);
    expect(compareCodePoints('b', 'a')).toBeGreaterThan(0);
  });

  it('skips undefined object members but rejects undefined array items', () => {
    expect(canonicalJson({ a: undefined, b: 1 })).toBe('{"b":1}');
    expect(() => canonicalJson([1, undefined])).toThrow(CanonicalJsonError);
    expect(() => canonicalJson(undefined)).toThrow(CanonicalJsonError);
  });

  it('accepts null-prototype objects and rejects other non-plain objects', () => {
    const o = Object.create(null) as Record<string, number>;
    o['k'] = 1;
    expect(canonicalJson(o)).toBe('{"k":1}');
    expect(() => canonicalJson({ d: new Date(0) })).toThrow(CanonicalJsonError);
    expect(() => canonicalJson(new Map())).toThrow(CanonicalJsonError);
    expect(() => canonicalJson({ f: () => 1 })).toThrow(CanonicalJsonError);
  });

  it('rejects cycles but allows shared (non-cyclic) references', () => {
    const shared = { v: 1 };
    expect(canonicalJson({ a: shared, b: shared })).toBe('{"a":{"v":1},"b":{"v":1}}');
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    expect(() => canonicalJson(cyclic)).toThrow(CanonicalJsonError);
  });
});

describe('canonicalJson: numbers', () => {
  it('accepts the full integer range', () => {
    expect(canonicalJson(2 ** 53 - 1)).toBe('9007199254740991');
    expect(canonicalJson(-(2 ** 53) + 1)).toBe('-9007199254740991');
    expect(canonicalJson(0)).toBe('0');
    expect(canonicalJson(10n)).toBe('10');
  });

  it.each([1.5, 0.1, -2.25, NaN, Infinity, -Infinity, 2 ** 53, -(2 ** 53), 1e300])('rejects %s', (n) => {
    expect(() => canonicalJson({ n })).toThrow(CanonicalJsonError);
  });

  it('rejects out-of-range bigints', () => {
    expect(() => canonicalJson(2n ** 53n)).toThrow(CanonicalJsonError);
  });
});
