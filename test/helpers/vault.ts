import { parseVaultKey, Vault } from '../../relay/vault/vault.js';

/**
 * The tests' vault key: fixed, so that a store reopened in a test (or by a relay process the test
 * starts) opens what the last one sealed. A real relay's key comes from RELAY_VAULT_KEY.
 */
export const TEST_VAULT_KEY = 'dGVzdC12YXVsdC1rZXktb2YtMzItYnl0ZXMtZml4ZWQ=';

export const TEST_VAULT = new Vault({ current: parseVaultKey(TEST_VAULT_KEY)! });
