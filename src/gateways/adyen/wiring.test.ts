import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../config/config.js';
import { Secret } from '../credentials.js';
import { adyenCredentials } from './wiring.js';

describe('adyenCredentials: the credentials document credentials_ref names', () => {
  const good = { api_key: 'AQEyhmfxKo3NaRZ', hmac_key: '44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056', merchant_account: 'ShopECOM' };

  it('reads the three secrets', () => {
    expect(adyenCredentials('adyen', new Secret(JSON.stringify(good)))).toEqual({ apiKey: good.api_key, hmacKey: good.hmac_key, merchantAccount: 'ShopECOM' });
  });

  it.each([
    ['not JSON', 'AQEyhmfxKo3NaRZ-pasted-key', /must be a JSON object/],
    ['no hmac_key', JSON.stringify({ ...good, hmac_key: undefined }), /"hmac_key" is missing or malformed/],
    ['an hmac_key that is not hex', JSON.stringify({ ...good, hmac_key: 'not-hex-secret-value' }), /"hmac_key" is missing or malformed/],
    ['no merchant_account', JSON.stringify({ ...good, merchant_account: '' }), /"merchant_account"/],
  ])('%s: a ConfigError naming the gateway and the field, never a value', (_case, text, message) => {
    let thrown: unknown;
    try {
      adyenCredentials('adyen-eu', new Secret(text));
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    const error = thrown as ConfigError;
    expect(error.message).toMatch(message);
    expect(error.message).toContain('gateway "adyen-eu"');
    expect(error.code).toBe('GATEWAY_CREDENTIALS');
    for (const secret of [good.api_key, good.hmac_key, 'not-hex-secret-value', 'AQEyhmfxKo3NaRZ-pasted-key']) expect(error.message).not.toContain(secret);
  });
});
