import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PERMISSIONS, ROLES, rolesWith, type Permission } from '../../../shared/roles.js';
import { ApiServer, expectNoSecrets } from './helpers.js';

/**
 * The served OpenAPI document as a client developer meets it: linted by Redocly's CLI with its
 * recommended rules, and read operation by operation for what a generated client needs (a name,
 * the key, the error answers). ./openapi-client.test.ts builds a typed client from it.
 */

interface Response {
  description: string;
  content?: Record<string, { schema?: { $ref?: string } }>;
}
interface Operation {
  operationId?: string;
  description?: string;
  security?: Array<Record<string, string[]>>;
  'x-required-permission'?: Permission;
  'x-roles'?: string[];
  responses: Record<string, Response>;
}
interface Document {
  servers?: Array<{ url: string }>;
  components: { schemas: Record<string, { type?: unknown; properties?: Record<string, unknown> }> };
  info: { license?: { name: string } };
  paths: Record<string, Record<string, Operation>>;
  webhooks: Record<string, Record<string, Operation>>;
}

/** The name of every operation (`METHOD path`), as generated clients call it: renaming one breaks them. */
const OPERATION_IDS: Readonly<Record<string, string>> = {
  'GET /healthz': 'getHealth',
  'GET /metrics': 'getMetrics',
  'GET /openapi.json': 'getOpenApiDocument',
  'GET /api/v1/me': 'getMe',
  'GET /api/v1/summary': 'getSummary',
  'GET /api/v1/requests': 'listRequests',
  'GET /api/v1/requests/{id}': 'getRequest',
  'POST /api/v1/requests/{id}/reply': 'replyToRequest',
  'GET /api/v1/events': 'streamEvents',
  'POST /api/v1/keys': 'createKey',
  'GET /api/v1/keys': 'listKeys',
  'DELETE /api/v1/keys/{id}': 'revokeKey',
  'GET /api/v1/audit': 'listAudit',
  'GET /api/v1/connections': 'listConnections',
  'GET /api/v1/connections/{id}': 'getConnection',
  'POST /api/v1/connections/{id}/token': 'readConnectionToken',
  'DELETE /api/v1/connections/{id}': 'revokeConnection',
  'POST /api/v1/webhooks': 'createWebhook',
  'GET /api/v1/webhooks': 'listWebhooks',
  'GET /api/v1/webhooks/{id}': 'getWebhook',
  'PATCH /api/v1/webhooks/{id}': 'updateWebhook',
  'DELETE /api/v1/webhooks/{id}': 'deleteWebhook',
  'POST /api/v1/webhooks/{id}/rotate-secret': 'rotateWebhookSecret',
  'POST /api/v1/webhooks/{id}/test': 'testWebhook',
  'GET /api/v1/webhooks/{id}/deliveries': 'listDeliveries',
  'POST /api/v1/webhooks/{id}/deliveries/{deliveryId}/resend': 'resendDelivery',
  'POST /api/v1/webhooks/{id}/recover': 'recoverDeliveries',
};

/** The routes anyone may call, without a key (README, "The JSON API"). */
const OPEN = ['GET /healthz', 'GET /metrics', 'GET /openapi.json'];

const REDOCLY_CLI = join(dirname(createRequire(import.meta.url).resolve('@redocly/cli/package.json')), 'bin', 'cli.js');

interface LintReport {
  totals: { errors: number; warnings: number; ignored: number };
  problems: Array<{ ruleId: string; severity: string; message: string; location: Array<{ pointer?: string }> }>;
}

/** `redocly lint --extends=recommended --format=json` on `text`, as a child process on this Node. */
function redoclyLint(text: string): Promise<{ code: number | null; report: LintReport | undefined; stdout: string; stderr: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'relay-openapi-'));
  writeFileSync(join(dir, 'openapi.json'), text);
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [REDOCLY_CLI, 'lint', 'openapi.json', '--extends=recommended', '--format=json'],
      // In a folder of its own: no redocly.yaml from anywhere can change the rules. No usage
      // report or update check leaves the machine.
      { cwd: dir, env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', DO_NOT_TRACK: '1' }, timeout: 60_000 },
      (error, stdout, stderr) => {
        rmSync(dir, { recursive: true, force: true });
        let report: LintReport | undefined;
        try {
          report = JSON.parse(stdout) as LintReport;
        } catch {
          report = undefined;
        }
        resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : null, report, stdout, stderr });
      },
    );
  });
}

let s: ApiServer;
let text: string;
let doc: Document;
let operations: Array<[string, Operation]>;

beforeAll(async () => {
  s = await new ApiServer().start();
  const answer = await s.get('/openapi.json', {});
  expect(answer.status).toBe(200);
  text = answer.text;
  doc = answer.json as Document;
  operations = Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]): [string, Operation] => [`${method.toUpperCase()} ${path}`, op]),
  );
});
afterAll(async () => {
  expectNoSecrets(s);
  await s.stop();
});

describe('the served document, linted by redocly (recommended rules)', () => {
  it('has no error and no warning', async () => {
    const lint = await redoclyLint(text);
    const problems = (lint.report?.problems ?? []).map(
      (problem) => `${problem.severity} ${problem.ruleId} at ${problem.location[0]?.pointer ?? '?'}: ${problem.message}`,
    );
    const output = `redocly lint said:\n${problems.join('\n')}\n${lint.stderr.slice(-2000)}`;
    expect(lint.report, output).toBeDefined();
    expect(problems, output).toEqual([]);
    expect(lint.report!.totals, output).toEqual({ errors: 0, warnings: 0, ignored: 0 });
    expect(lint.code, output).toBe(0);
  });
});

describe('every operation, as a generated client needs it', () => {
  it('has the operationId generated clients know it by (camelCase, unique), the outgoing webhooks too', () => {
    const ids = Object.fromEntries(operations.map(([name, op]) => [name, op.operationId]));
    expect(ids).toEqual(OPERATION_IDS);
    const webhookIds = Object.values(doc.webhooks).flatMap((methods) => Object.values(methods).map((op) => op.operationId));
    expect(webhookIds).toContain('onRequestCreated');
    expect(webhookIds).toContain('onWebhookTest');
    const all = [...Object.values(ids), ...webhookIds];
    for (const id of all) expect(id).toMatch(/^[a-z][A-Za-z0-9]*$/);
    expect(new Set(all).size).toBe(all.length);
  });

  it('says it needs the API key exactly where x-roles names the roles that may call it, and names them in its description', () => {
    expect(operations.filter(([, op]) => op.security?.length === 0).map(([name]) => name).sort()).toEqual([...OPEN].sort());
    for (const [name, op] of operations) {
      if (OPEN.includes(name)) {
        expect(op.security, name).toEqual([]);
        expect(op['x-roles'], name).toBeUndefined();
        continue;
      }
      expect(op.security, name).toEqual([{ apiKey: [] }]);
      const permission = op['x-required-permission'];
      expect(PERMISSIONS, name).toContain(permission);
      expect(op['x-roles'], name).toEqual(rolesWith(permission!));
      // Each role that may, by name, in the text every documentation viewer shows.
      const roles = /Roles: (.*)$/.exec(op.description ?? '')?.[1] ?? '';
      for (const role of ROLES) expect(roles.includes(role), `${name}: ${role} in "${roles}"`).toBe(op['x-roles']!.includes(role));
    }
    // The messages POSTed to subscribers carry no key of the relay's: their signature says who sent them.
    for (const methods of Object.values(doc.webhooks)) for (const op of Object.values(methods)) expect(op.security).toEqual([]);
  });

  it('describes its error answers: at least one 4xx, each with the Error body (408 comes from the HTTP server, bodiless)', () => {
    for (const [name, op] of operations) {
      const errors = Object.keys(op.responses).filter((status) => Number(status) >= 400);
      expect(errors.some((status) => status.startsWith('4')), name).toBe(true);
      expect(errors, name).toEqual(expect.arrayContaining(['408', '500']));
      if (!OPEN.includes(name)) expect(errors, name).toEqual(expect.arrayContaining(['401', '403', '429', '503']));
      for (const status of errors) {
        const response = op.responses[status]!;
        const schema = response.content?.['application/json']?.schema?.$ref;
        if (status === '408') expect(response.content, name).toBeUndefined();
        // /healthz says why it is unavailable in its own body.
        else if (name === 'GET /healthz' && status === '503') expect(schema).toBe('#/components/schemas/Health');
        else expect(schema, `${name} ${status}`).toBe('#/components/schemas/Error');
      }
    }
  });

  it('keeps "or null" where it belongs: a request may have no reply yet, a queued reply is never null', () => {
    expect(doc.components.schemas.Reply?.type).toBe('object');
    expect(doc.components.schemas.ConnectionRequest?.properties?.reply).toEqual({
      anyOf: [{ $ref: '#/components/schemas/Reply' }, { type: 'null' }],
    });
  });

  it('names where it is served from (relative: the relay that served it) and its licence', () => {
    expect(doc.servers).toEqual([expect.objectContaining({ url: '/' })]);
    expect(doc.info.license?.name).toMatch(/\S/);
  });
});
