// Public-key objects as a client builds them, signed with real ed25519 keys.
import { randomBytes } from 'node:crypto';
import { publicKeyBase64, signJson, type SigningKey } from '../../../src/matrix/events/signing.ts';

export type Json = Record<string, any>;

export function ed25519(keyIdOf: (pub: string) => string): SigningKey & { pub: string } {
  const seed = randomBytes(32);
  const pub = publicKeyBase64({ keyId: 'ed25519:x', seed });
  return { keyId: keyIdOf(pub), seed, pub };
}

export function signed<T extends object>(obj: T, signer: string, key: SigningKey): T {
  return signJson(obj, signer, key);
}

/** A device's keys, signed by its own ed25519 key (as /keys/upload requires). */
export function deviceKeys(userId: string, deviceId: string): { keys: Json; key: SigningKey & { pub: string } } {
  const key = ed25519(() => `ed25519:${deviceId}`);
  const keys = {
    user_id: userId,
    device_id: deviceId,
    algorithms: ['m.olm.v1.curve25519-aes-sha2', 'm.megolm.v1.aes-sha2'],
    keys: { [`curve25519:${deviceId}`]: randomBytes(32).toString('base64').replace(/=+$/, ''), [`ed25519:${deviceId}`]: key.pub },
  };
  return { keys: signed(keys, userId, key), key };
}

export function oneTimeKeys(userId: string, deviceKey: SigningKey, n: number, prefix = 'k'): Json {
  const out: Json = {};
  for (let i = 0; i < n; i++) {
    out[`signed_curve25519:${prefix}${i}`] = signed({ key: randomBytes(32).toString('base64').replace(/=+$/, '') }, userId, deviceKey);
  }
  return out;
}

/** Master, self-signing and user-signing keys, the latter two signed by the master key. */
export function crossSigning(userId: string) {
  const master = ed25519((pub) => `ed25519:${pub}`);
  const selfSigning = ed25519((pub) => `ed25519:${pub}`);
  const userSigning = ed25519((pub) => `ed25519:${pub}`);
  const obj = (usage: string, k: { keyId: string; pub: string }) => ({ user_id: userId, usage: [usage], keys: { [k.keyId]: k.pub } });
  return {
    master,
    selfSigning,
    userSigning,
    body: {
      master_key: obj('master', master),
      self_signing_key: signed(obj('self_signing', selfSigning), userId, master),
      user_signing_key: signed(obj('user_signing', userSigning), userId, master),
    },
  };
}
