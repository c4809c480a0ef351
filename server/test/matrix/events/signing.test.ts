import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeBase64 } from '../../../src/matrix/events/base64.ts';
import { contentHashOf } from '../../../src/matrix/events/hashes.ts';
import { redactEventObject } from '../../../src/matrix/events/redaction.ts';
import {
  SigningKeyError,
  formatSigningKey,
  generateSigningKey,
  loadSigningKey,
  parseSigningKeys,
  publicKeyBase64,
  publicKeyOf,
  saveSigningKey,
  signEvent,
  signJson,
  verifyEventSignature,
  verifyJsonSignature,
} from '../../../src/matrix/events/signing.ts';
import {
  MINIMAL_EVENT_HASH,
  MINIMAL_EVENT_SIG,
  REDACTABLE_EVENT_HASH,
  REDACTABLE_EVENT_SIG,
  SERVER_NAME,
  SIG_EMPTY_OBJECT,
  SIG_ONE_TWO,
  minimalEvent,
  redactableEvent,
  specSigningKey,
} from './spec-vectors.ts';

describe('signJson (spec JSON signing vectors)', () => {
  const key = specSigningKey();

  it('signs {}', () => {
    expect(signJson({}, SERVER_NAME, key)).toEqual({ signatures: { domain: { 'ed25519:1': SIG_EMPTY_OBJECT } } });
  });

  it('signs {"one":1,"two":"Two"}', () => {
    expect(signJson({ one: 1, two: 'Two' }, SERVER_NAME, key)).toEqual({
      one: 1,
      two: 'Two',
      signatures: { domain: { 'ed25519:1': SIG_ONE_TWO } },
    });
  });

  it('ignores existing signatures and unsigned, and keeps them', () => {
    const input = {
      one: 1,
      two: 'Two',
      unsigned: { age_ts: 5 },
      signatures: { other: { 'ed25519:x': 'abc' }, domain: { 'ed25519:0': 'old' } },
    };
    const signed = signJson(input, SERVER_NAME, key);
    expect(signed.signatures).toEqual({
      other: { 'ed25519:x': 'abc' },
      domain: { 'ed25519:0': 'old', 'ed25519:1': SIG_ONE_TWO },
    });
    expect(signed.unsigned).toEqual({ age_ts: 5 });
  });

  it('does not mutate its input', () => {
    const input = { a: 1, signatures: { x: { 'ed25519:1': 's' } } };
    const before = structuredClone(input);
    signJson(input, SERVER_NAME, key);
    expect(input).toEqual(before);
  });
});

describe('verifyJsonSignature', () => {
  const key = specSigningKey();
  const pub = publicKeyOf(key);

  it('verifies spec-signed objects, with raw or base64 public key', () => {
    const signed = signJson({ one: 1, two: 'Two' }, SERVER_NAME, key);
    expect(verifyJsonSignature(signed, SERVER_NAME, 'ed25519:1', pub)).toBe(true);
    expect(verifyJsonSignature(signed, SERVER_NAME, 'ed25519:1', publicKeyBase64(key))).toBe(true);
  });

  it('ignores unsigned changes', () => {
    const signed = { ...signJson({ one: 1 }, SERVER_NAME, key), unsigned: { anything: true } };
    expect(verifyJsonSignature(signed, SERVER_NAME, 'ed25519:1', pub)).toBe(true);
  });

  it('fails when the content was altered', () => {
    const signed = signJson({ one: 1 }, SERVER_NAME, key);
    expect(verifyJsonSignature({ ...signed, one: 2 }, SERVER_NAME, 'ed25519:1', pub)).toBe(false);
  });

  it('fails for a missing server, key id, unknown algorithm, bad base64 or wrong key', () => {
    const signed = signJson({ one: 1 }, SERVER_NAME, key);
    expect(verifyJsonSignature(signed, 'elsewhere', 'ed25519:1', pub)).toBe(false);
    expect(verifyJsonSignature(signed, SERVER_NAME, 'ed25519:2', pub)).toBe(false);
    expect(verifyJsonSignature(signed, SERVER_NAME, 'rsa:1', pub)).toBe(false);
    const garbled = { ...signed, signatures: { domain: { 'ed25519:1': '!!!' } } };
    expect(verifyJsonSignature(garbled, SERVER_NAME, 'ed25519:1', pub)).toBe(false);
    expect(verifyJsonSignature(signed, SERVER_NAME, 'ed25519:1', publicKeyOf(generateSigningKey()))).toBe(false);
    expect(verifyJsonSignature({ one: 1 }, SERVER_NAME, 'ed25519:1', pub)).toBe(false);
    expect(verifyJsonSignature(signed, SERVER_NAME, 'ed25519:1', Buffer.alloc(5))).toBe(false);
  });
});

describe('signEvent (spec event signing vectors)', () => {
  const key = specSigningKey();

  it('hashes and signs the minimal event', () => {
    const signed = signEvent(minimalEvent(), SERVER_NAME, key, '10');
    expect(signed).toEqual({
      auth_events: [],
      content: {},
      depth: 3,
      hashes: { sha256: MINIMAL_EVENT_HASH },
      origin: 'domain',
      origin_server_ts: 1000000,
      prev_events: [],
      room_id: '!x:domain',
      sender: '@a:domain',
      signatures: { domain: { 'ed25519:1': MINIMAL_EVENT_SIG } },
      type: 'X',
      unsigned: { age_ts: 1000000 },
    });
  });

  it('matches the redactable-event vector when its parts are applied to the old (event_id) format', () => {
    // The vector predates v3 event IDs: its event_id is part of the hashed and
    // signed JSON, which signEvent deliberately leaves out for v10/v11. So the
    // spec algorithm is checked step by step: content hash, then a signature
    // of the redacted event.
    const ev = redactableEvent();
    const hash = encodeBase64(contentHashOf(ev));
    expect(hash).toBe(REDACTABLE_EVENT_HASH);
    const redacted = redactEventObject({ ...ev, hashes: { sha256: hash } }, '10');
    expect(redacted['content']).toEqual({});
    expect(signJson(redacted, SERVER_NAME, key).signatures).toEqual({ domain: { 'ed25519:1': REDACTABLE_EVENT_SIG } });
  });

  it('signs the redacted form: the signature survives redaction but not edits of protected keys', () => {
    const ev = { ...minimalEvent(), type: 'm.room.message', content: { body: 'secret' } };
    const signed = signEvent(ev, SERVER_NAME, key, '11');
    expect(verifyEventSignature(signed, SERVER_NAME, 'ed25519:1', publicKeyOf(key), '11')).toBe(true);
    const redacted = redactEventObject(signed, '11');
    expect(verifyEventSignature(redacted, SERVER_NAME, 'ed25519:1', publicKeyOf(key), '11')).toBe(true);
    // content is outside the signature (it is covered by the hash instead)...
    const edited = { ...signed, content: { body: 'other' } };
    expect(verifyEventSignature(edited, SERVER_NAME, 'ed25519:1', publicKeyOf(key), '11')).toBe(true);
    // ...but the hash and the protected keys are inside it.
    const rehashed = { ...signed, hashes: { sha256: 'AAAA' } };
    expect(verifyEventSignature(rehashed, SERVER_NAME, 'ed25519:1', publicKeyOf(key), '11')).toBe(false);
    const moved = { ...signed, room_id: '!y:domain' };
    expect(verifyEventSignature(moved, SERVER_NAME, 'ed25519:1', publicKeyOf(key), '11')).toBe(false);
  });

  it('differs between v10 and v11 when origin is present (v11 no longer protects it)', () => {
    const v10 = signEvent(minimalEvent(), SERVER_NAME, key, '10');
    const v11 = signEvent(minimalEvent(), SERVER_NAME, key, '11');
    expect(v10.hashes).toEqual(v11.hashes);
    expect(v10.signatures).not.toEqual(v11.signatures);
    expect(verifyEventSignature({ ...v11, origin: 'x' }, SERVER_NAME, 'ed25519:1', publicKeyOf(key), '11')).toBe(true);
    expect(verifyEventSignature({ ...v10, origin: 'x' }, SERVER_NAME, 'ed25519:1', publicKeyOf(key), '10')).toBe(false);
  });

  it('ignores a convenience event_id and does not mutate the input', () => {
    const ev = minimalEvent();
    const before = structuredClone(ev);
    const signed = signEvent({ ...ev, event_id: '$whatever' }, SERVER_NAME, key, '10');
    expect(ev).toEqual(before);
    expect(signed.event_id).toBe('$whatever');
    expect(signed.hashes.sha256).toBe(MINIMAL_EVENT_HASH);
    expect(signed.signatures).toEqual({ domain: { 'ed25519:1': MINIMAL_EVENT_SIG } });
  });
});

describe('signing keys', () => {
  it('generates ed25519 keys with a 6-character alphanumeric version', () => {
    const key = generateSigningKey();
    expect(key.keyId).toMatch(/^ed25519:[A-Za-z0-9]{6}$/);
    expect(key.seed).toHaveLength(32);
    expect(generateSigningKey().seed.equals(key.seed)).toBe(false);
    const signed = signJson({ a: 1 }, 'example.org', key);
    expect(verifyJsonSignature(signed, 'example.org', key.keyId, publicKeyOf(key))).toBe(true);
  });

  it('derives the public key from the seed', () => {
    expect(publicKeyOf(specSigningKey())).toHaveLength(32);
    expect(publicKeyBase64(specSigningKey())).toBe(publicKeyBase64(specSigningKey()));
    expect(publicKeyBase64(specSigningKey())).not.toContain('=');
  });

  it('formats and parses Synapse key file lines', () => {
    const key = specSigningKey();
    const line = formatSigningKey(key);
    expect(line).toBe('ed25519 1 YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA0\n');
    const [parsed] = parseSigningKeys(line);
    expect(parsed?.keyId).toBe('ed25519:1');
    expect(parsed?.seed.equals(key.seed)).toBe(true);
  });

  it('parses the spec seed text, padded seeds, blank lines and several keys', () => {
    const keys = parseSigningKeys(
      '\ned25519 a_Abcd YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1\r\ned25519 b YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA0=\n\n',
    );
    expect(keys.map((k) => k.keyId)).toEqual(['ed25519:a_Abcd', 'ed25519:b']);
    expect(keys[0]?.seed.equals(specSigningKey().seed)).toBe(true);
  });

  it.each([
    ['wrong field count', 'ed25519 1'],
    ['unknown algorithm', 'rsa 1 YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1'],
    ['bad version', 'ed25519 a:b YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1'],
    ['bad base64', 'ed25519 1 !!!!'],
    ['short seed', 'ed25519 1 Zm9v'],
  ])('rejects a key file with %s', (_name, text) => {
    expect(() => parseSigningKeys(text)).toThrow(SigningKeyError);
  });

  describe('files', () => {
    let dir: string;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'tocsin-keys-'));
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('saves with owner-only permissions and loads back', async () => {
      const key = generateSigningKey();
      const path = join(dir, 'signing.key');
      await saveSigningKey(path, key);
      expect((await stat(path)).mode & 0o777).toBe(0o600);
      expect(await readFile(path, 'utf8')).toMatch(/^ed25519 [A-Za-z0-9]{6} [A-Za-z0-9+/]{43}\n$/);
      const loaded = await loadSigningKey(path);
      expect(loaded.keyId).toBe(key.keyId);
      expect(loaded.seed.equals(key.seed)).toBe(true);
    });

    it('refuses an empty key file', async () => {
      const path = join(dir, 'empty.key');
      await writeFile(path, '\n');
      await expect(loadSigningKey(path)).rejects.toThrow(SigningKeyError);
    });
  });
});
