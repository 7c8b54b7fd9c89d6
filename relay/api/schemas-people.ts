import { z } from 'zod';
import { ApiKey, ApiKeyCreate, ApiKeyCreated, ApiKeyList, AuditEntry, AuditPage, AuditQuery } from '../../shared/people.js';
import { ROLES } from '../../shared/roles.js';
import { ID_PATTERN, pagingOf, withOpenApi } from './schemas.js';
import { classicObject } from './zod-classic.js';

/**
 * The shared models of people and permissions (API keys, the audit trail), named for the OpenAPI
 * document and given messages that say what is valid; see ./schemas.ts for how and why.
 */

export const ApiKeyDoc = withOpenApi(classicObject(ApiKey), 'ApiKey', {
  description: 'An API key as the relay shows it: never the key itself, only its first 8 characters (`prefix`).',
});
export const ApiKeyListDoc = withOpenApi(classicObject(ApiKeyList).extend({ items: z.array(ApiKeyDoc) }), 'ApiKeyList');
export const ApiKeyCreatedDoc = withOpenApi(classicObject(ApiKeyCreated).extend({ key: ApiKeyDoc }), 'ApiKeyCreated', {
  description: 'The new key and the key itself (`secret`, `trl_…`): the only answer that ever shows it. Keep it; the relay keeps only its hash.',
});

const roleMessage = `must be one of ${ROLES.join(', ')}`;

/** `POST /keys` body: the shared ApiKeyCreate (its name checks and messages), the role said plainly. */
export const ApiKeyCreateApi = withOpenApi(
  classicObject(ApiKeyCreate)
    .extend({
      role: z.enum(ROLES, { error: roleMessage }).openapi({
        description:
          'viewer: reads requests and events; replier: also sends replies; admin: also manages webhooks and keys and reads the audit trail; broker: only itself, connections and their tokens.',
      }),
    })
    .strict(),
  'ApiKeyCreate',
);

export const KeyIdParams = z.object({
  id: z
    .string()
    .regex(ID_PATTERN, { error: 'must be a key id (key_…) or a key prefix (trl_…)' })
    .openapi({ param: { name: 'id', in: 'path' }, description: 'The key id, or its prefix when no other key shares it.' }),
});

const AuditEntryDoc = withOpenApi(classicObject(AuditEntry), 'AuditEntry', {
  description: 'One line of the audit trail: who (a key, `auto` or `cli`), what, to what, when.',
});
export const AuditPageDoc = withOpenApi(classicObject(AuditPage).extend({ items: z.array(AuditEntryDoc) }), 'AuditPage');

export const AuditQueryApi = classicObject(AuditQuery).extend({ ...pagingOf(AuditQuery.shape.limit, { min: 1, max: 200 }) });
