import { XMLParser } from 'fast-xml-parser';
import { afterEach, beforeEach } from 'vitest';
import { type Sandbox, type SandboxOptions, createSandbox } from '../../../relay/sandbox/app.js';
import { ManualClock } from '../../../relay/sandbox/clock.js';
import { type RunningSandbox, type StartSandboxOptions, startSandbox } from '../../../relay/sandbox/server.js';

/** Shared helpers for the sandbox tests: an in-process sandbox, one over real HTTP, and a small XML reader. */

export const T0 = Date.UTC(2024, 4, 1, 12, 0, 0);

export const xml = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  parseTagValue: false,
  isArray: (_name, path) => path === 'ConnectionRequests.Items.ConnectionRequest',
});

export interface InProcess {
  sb: Sandbox;
  clock: ManualClock;
  /** A Concur call with the static token (OAuth scheme) unless headers say otherwise. */
  call(path: string, init?: RequestInit): Promise<Response>;
  /** A control API call with a JSON body. */
  control(method: string, path: string, body?: unknown): Promise<Response>;
}

export function inProcess(options: SandboxOptions = {}): InProcess {
  const clock = new ManualClock(T0);
  const sb = createSandbox({ clock, random: 7, seed: false, ...options });
  const origin = 'http://concur.test';
  return {
    sb,
    clock,
    call(path, init = {}) {
      const headers = new Headers(init.headers);
      if (!headers.has('authorization')) headers.set('Authorization', `OAuth ${sb.credentials.accessToken}`);
      return Promise.resolve(sb.app.request(`${origin}${path}`, { ...init, headers }));
    },
    control(method, path, body) {
      return Promise.resolve(
        sb.app.request(`${origin}/_sandbox${path}`, {
          method,
          headers: { 'Content-Type': 'application/json' },
          body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
        }),
      );
    },
  };
}

export const CR = '/api/v3.0/common/connectionrequests';

export function putXml(status: string): RequestInit {
  return {
    method: 'PUT',
    headers: { 'Content-Type': 'application/xml' },
    body: `<ConnectionRequest><Status>${status}</Status></ConnectionRequest>`,
  };
}

/** The items of an XML list page, as plain objects. */
export function xmlItems(body: string): Array<Record<string, unknown>> {
  const doc = xml.parse(body) as { ConnectionRequests?: { Items?: { ConnectionRequest?: Array<Record<string, unknown>> } | string } };
  const items = doc.ConnectionRequests?.Items;
  if (!items || typeof items === 'string') return [];
  return items.ConnectionRequest ?? [];
}

export function xmlNextPage(body: string): string | undefined {
  const doc = xml.parse(body) as { ConnectionRequests?: { NextPage?: string } };
  return doc.ConnectionRequests?.NextPage;
}

export const GUID_UPPER = /^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$/;
export const CONCUR_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/;

/** A sandbox over real HTTP on 127.0.0.1 with a ManualClock, one per test (see httpSandbox). */
export interface OverHttp {
  sb: RunningSandbox;
  clock: ManualClock;
  /** A call to the sandbox's origin, headers exactly as given (no Authorization unless given). */
  fetch(path: string, init?: RequestInit): Promise<Response>;
  /** A control API call with a JSON body. */
  control(method: string, path: string, body?: unknown): Promise<Response>;
  /** `POST /oauth2/v0/token` with the sandbox's client credentials, unless `fields` replace them. */
  token(fields: Record<string, string>): Promise<Response>;
  /** A pending request with a fresh request token (its userId a GUID unless given). */
  addRequest(fields?: Record<string, unknown>): Promise<{ id: string; userId: string; requestToken: string; firstName: string | null; lastName: string | null }>;
}

/** Starts a fresh sandbox before each test of the file (and closes it after), so no test sees another's tokens. */
export function httpSandbox(options: StartSandboxOptions = {}): () => OverHttp {
  let current: OverHttp | undefined;
  beforeEach(async () => {
    const clock = new ManualClock(T0);
    const sb = await startSandbox({ clock, random: 7, seed: false, ...options });
    const fetchIt = (path: string, init: RequestInit = {}) => fetch(`${sb.url}${path}`, init);
    current = {
      sb,
      clock,
      fetch: fetchIt,
      control: (method, path, body) =>
        fetchIt(`/_sandbox${path}`, {
          method,
          headers: { 'Content-Type': 'application/json' },
          body: body === undefined ? undefined : JSON.stringify(body),
        }),
      token: (fields) =>
        fetchIt('/oauth2/v0/token', {
          method: 'POST',
          headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
          body: new URLSearchParams({ client_id: sb.clientId, client_secret: sb.clientSecret, ...fields }).toString(),
        }),
      async addRequest(fields = {}) {
        const res = await current!.control('POST', '/requests', fields);
        if (res.status !== 201) throw new Error(`POST /_sandbox/requests answered ${res.status}: ${await res.text()}`);
        const { requests } = (await res.json()) as { requests: Array<{ id: string; userId: string; requestToken: string; firstName: string | null; lastName: string | null }> };
        return requests[0]!;
      },
    };
  });
  afterEach(async () => {
    await current?.sb.close();
    current = undefined;
  });
  return () => {
    if (!current) throw new Error('httpSandbox: no sandbox outside a test');
    return current;
  };
}

/** The answer of the password grant with credtype=authtoken for a request, as JSON. */
export async function passwordGrant(h: OverHttp, request: { userId: string; requestToken: string }): Promise<Record<string, unknown>> {
  const res = await h.token({ grant_type: 'password', username: request.userId, password: request.requestToken, credtype: 'authtoken' });
  if (res.status !== 200) throw new Error(`password grant answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as Record<string, unknown>;
}

export const LEGACY_TOKEN = '/net2/oauth2/getaccesstoken.ashx';

/** The legacy exchange of a request token, as JSON's `Access_Token` object. */
export async function legacyExchange(h: OverHttp, requestToken: string): Promise<Record<string, string>> {
  const query = new URLSearchParams({ code: requestToken, client_id: h.sb.clientId, client_secret: h.sb.clientSecret });
  const res = await h.fetch(`${LEGACY_TOKEN}?${query}`, { headers: { Accept: 'application/json' } });
  if (res.status !== 200) throw new Error(`legacy exchange answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { Access_Token: Record<string, string> }).Access_Token;
}

/** One control-API view of the grants (no token values). */
export async function grantsOf(h: OverHttp, userId?: string): Promise<Array<Record<string, unknown>>> {
  const res = await h.control('GET', userId === undefined ? '/users' : `/users/${encodeURIComponent(userId)}`);
  if (res.status !== 200) throw new Error(`GET /_sandbox/users answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { grants: Array<Record<string, unknown>> }).grants;
}
