import { XMLParser } from 'fast-xml-parser';
import { type Sandbox, type SandboxOptions, createSandbox } from '../../../relay/sandbox/app.js';
import { ManualClock } from '../../../relay/sandbox/clock.js';

/** Shared helpers for the sandbox tests: an in-process sandbox and a small XML reader. */

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
