import { describe, expect, it } from 'vitest';
import { domainOf, isValidServerName, isValidUserId } from '../../../src/matrix/events/identifiers.ts';

describe('identifiers', () => {
  it('takes the domain after the first colon', () => {
    expect(domainOf('@a:example.org')).toBe('example.org');
    expect(domainOf('!r:example.org:8448')).toBe('example.org:8448');
    expect(domainOf('@a:[::1]:80')).toBe('[::1]:80');
    expect(domainOf('nocolon')).toBeUndefined();
  });

  it.each(['matrix.org', 'matrix.org:8888', '1.2.3.4', '1.2.3.4:1234', '[1234:5678::abcd]', '[1234:5678::abcd]:5678', 'localhost'])(
    'accepts server name %s',
    (name) => expect(isValidServerName(name)).toBe(true),
  );

  it.each(['', 'bad_name.org', '1.2.3.256', 'host:123456', '[1234::abcd', 'host:', 'ex ample.org'])(
    'rejects server name %j',
    (name) => expect(isValidServerName(name)).toBe(false),
  );

  it('accepts current and historical user IDs', () => {
    expect(isValidUserId('@alice:example.org')).toBe(true);
    expect(isValidUserId('@Alice!:example.org')).toBe(true); // historical localpart
    expect(isValidUserId('@:example.org')).toBe(true); // historical: empty localpart
  });

  it('rejects malformed user IDs', () => {
    expect(isValidUserId('alice:example.org')).toBe(false);
    expect(isValidUserId('@alice')).toBe(false);
    expect(isValidUserId('@alice:bad_host')).toBe(false);
    expect(isValidUserId('@al\u0000ice:example.org')).toBe(false);
    expect(isValidUserId(`@${'a'.repeat(250)}:example.org`)).toBe(false);
  });
});
