/** What the configuration tests share: a vault key and the variables of a relay talking to Concur. */

/** 32 bytes, base64: what `openssl rand -base64 32` prints. */
export const VAULT = Buffer.from('vault-key-hush-of-32-bytes-exact').toString('base64');

/** The least a relay needs to talk to Concur (not sandbox mode). */
export const CONCUR_MODE_ENV = {
  CONCUR_BASE_URL: 'https://www.concursolutions.com',
  CONCUR_ACCESS_TOKEN: 'tok3n-hush-static-access-token',
  RELAY_API_KEYS: 'k3y-0123456789abcdef-relay',
  RELAY_VAULT_KEY: VAULT,
};
