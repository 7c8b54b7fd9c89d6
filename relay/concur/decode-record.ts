import { z } from 'zod';
import { STATUS_CODES, normaliseStatus } from '../../shared/status.js';
import { ConcurError } from './errors.js';
import { ConcurRecord, type ConcurPage } from './record.js';
import { fromConcurTime } from './time.js';

/**
 * What the XML and the JSON readers (decode-xml.ts, decode-json.ts) share: both reduce a body to
 * the same shape, a map of lower-case field names to text or null, and this builds and validates
 * the record, the page or the error from it.
 */

export type DecodedBody =
  | { kind: 'page'; page: ConcurPage }
  | { kind: 'record'; record: ConcurRecord }
  | { kind: 'error'; message: string; id: string | null; serverTime: string | null };

/**
 * A page as read, its records not built yet: NextPage and the count are what paging needs to ask
 * for the next page, so the client can put that request on the wire before it spends time on
 * building and validating the records (which throws as decoding would have).
 */
export interface PageReading {
  nextPage: string | null;
  count: number;
  records(): ConcurRecord[];
}

/** What the XML and JSON readers return: DecodedBody with the page not built yet. */
export type ReadBody = Exclude<DecodedBody, { kind: 'page' }> | { kind: 'page'; page: PageReading };

/** The page with its records built (and validated: may throw). */
export function builtPage(page: PageReading): ConcurPage {
  return { items: page.records(), nextPage: page.nextPage };
}

export function pageReading(count: number, nextPage: string | null, records: () => ConcurRecord[]): ReadBody {
  return { kind: 'page', page: { count, nextPage, records } };
}

/** Field values by lower-case element or key name; null is `xsi:nil` or JSON null. */
export type Fields = Map<string, string | null>;

/**
 * The one structured field: v3.1's `EmailAddresses{Email1..5}`, v3.2's `emailAddresses{email1..5}`,
 * as `[name, value]` pairs (name as sent, value null for nil/null); undefined when the request has none.
 */
export type EmailEntries = ReadonlyArray<readonly [name: string, value: string | null]>;

const EMAIL_KEY = /^email(\d{1,2})$/i;

/**
 * The addresses in Concur's order (email1 first), without nil and empty slots: the API shows a
 * list, not five slots. Keys other than emailN are extra elements, which the relay ignores anyway.
 */
function emailList(entries: EmailEntries | undefined): string[] {
  if (entries === undefined) return [];
  return entries
    .flatMap(([name, value]) => {
      const n = EMAIL_KEY.exec(name)?.[1];
      // Kept as sent, like every other field; an empty slot is as absent as a nil one.
      return n === undefined || value === null || value === '' ? [] : [{ n: Number(n), value }];
    })
    .sort((a, b) => a.n - b.n)
    .map((entry) => entry.value);
}

/** A body the relay cannot read: ConcurError('bad_response'), with the reason. */
export function bad(reason: string, cause?: unknown): ConcurError {
  return new ConcurError('bad_response', reason, {}, cause === undefined ? undefined : { cause });
}

/** The first line of what a parser said, short enough for a log and a summary. */
export function reasonOf(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.split('\n')[0]!.slice(0, 300);
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function nextPageFrom(text: string | null): string | null {
  return text?.trim() || null;
}

export function errorFrom(fields: Fields): Extract<DecodedBody, { kind: 'error' }> {
  return {
    kind: 'error',
    message: fields.get('message') ?? '',
    id: fields.get('id') ?? null,
    serverTime: fields.get('server-time') ?? null,
  };
}

/** `where` names the record in messages; they never quote the request token. */
export function toRecord(fields: Fields, where: string, emails?: EmailEntries): ConcurRecord {
  const field = (name: keyof ConcurRecord): string | null => fields.get(name.toLowerCase()) ?? null;

  const id = field('id');
  if (id === null || id.trim() === '') throw bad(`${where} has no ID`);
  const rawStatus = field('status');
  if (rawStatus === null) throw bad(`connection request ${id} has no status`);
  const status = normaliseStatus(rawStatus);
  if (status === undefined) {
    throw bad(`connection request ${id} has an unknown status ${JSON.stringify(rawStatus)} (valid: ${STATUS_CODES.join(', ')})`);
  }
  const rawTime = field('lastModified');
  let lastModified: string | null = null;
  // An empty <LastModified /> says no more than a missing one.
  if (rawTime !== null && rawTime.trim() !== '') {
    try {
      lastModified = fromConcurTime(rawTime);
    } catch (err) {
      throw bad(`connection request ${id} has a bad LastModified: ${reasonOf(err)}`, err);
    }
  }

  const result = ConcurRecord.safeParse({
    id,
    uri: field('uri'),
    firstName: field('firstName'),
    middleName: field('middleName'),
    lastName: field('lastName'),
    loyaltyNumber: field('loyaltyNumber'),
    discountCode: field('discountCode'),
    status,
    requestToken: field('requestToken'),
    message: field('message'),
    lastModified,
    userId: field('userId'),
    emailAddresses: emailList(emails),
  });
  if (!result.success) throw bad(`connection request ${id} is invalid:\n${z.prettifyError(result.error)}`);
  return result.data;
}
