import { createCipheriv, createDecipheriv, createPrivateKey, createPublicKey, generateKeyPairSync, hkdfSync, randomBytes, type KeyObject } from 'node:crypto';
import type { DataSource } from 'typeorm';
import type { Clock } from '../../platform/clock';

/**
 * The Ed25519 key pair that signs offline response files (R6.3). Generated once and kept in the
 * database, so that every instance signs with the same key and a restart keeps it; the private key
 * is stored encrypted (AES-256-GCM) under a key derived from APP_SECRET.
 */
export class OfflineSigningKeys {
  private cached?: Promise<{ privateKey: KeyObject; publicKey: KeyObject }>;

  constructor(
    private readonly ds: DataSource,
    private readonly appSecret: string,
    private readonly clock: Clock,
  ) {}

  keys(): Promise<{ privateKey: KeyObject; publicKey: KeyObject }> {
    this.cached ??= this.load().catch((err: unknown) => {
      this.cached = undefined;
      throw err;
    });
    return this.cached;
  }

  private wrappingKey(): Buffer {
    return Buffer.from(hkdfSync('sha256', this.appSecret, 'tessera', 'offline-signing-key', 32));
  }

  private async load(): Promise<{ privateKey: KeyObject; publicKey: KeyObject }> {
    const pair = generateKeyPairSync('ed25519');
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.wrappingKey(), iv);
    const der = pair.privateKey.export({ format: 'der', type: 'pkcs8' });
    const sealed = Buffer.concat([iv, cipher.update(der), cipher.final(), cipher.getAuthTag()]).toString('base64');
    // The first instance to get here stores its pair; everyone then uses the stored one.
    await this.ds.query(
      `INSERT INTO signing_keys (purpose, public_key_pem, private_key_encrypted, created_at) VALUES ('offline', $1, $2, $3)
       ON CONFLICT (purpose) DO NOTHING`,
      [pair.publicKey.export({ format: 'pem', type: 'spki' }), sealed, this.clock.now()],
    );
    const [row] = await this.ds.query<Array<{ public_key_pem: string; private_key_encrypted: string }>>(
      "SELECT public_key_pem, private_key_encrypted FROM signing_keys WHERE purpose = 'offline'",
    );
    const blob = Buffer.from(row.private_key_encrypted, 'base64');
    const decipher = createDecipheriv('aes-256-gcm', this.wrappingKey(), blob.subarray(0, 12));
    decipher.setAuthTag(blob.subarray(blob.length - 16));
    let plain: Buffer;
    try {
      plain = Buffer.concat([decipher.update(blob.subarray(12, blob.length - 16)), decipher.final()]);
    } catch {
      throw new Error('The stored offline signing key cannot be decrypted: APP_SECRET differs from the one it was stored with.');
    }
    return { privateKey: createPrivateKey({ key: plain, format: 'der', type: 'pkcs8' }), publicKey: createPublicKey(row.public_key_pem) };
  }
}
