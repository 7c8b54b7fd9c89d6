/**
 * List bodies a hostile Concur sent the relay, each under the 5 MB body cap, each once read and
 * stored in full (the first three at a cost of 70–190 MB of memory and up to most of a second in
 * the parser, on every poll). Shared by the codec tests, the poller's memory test
 * (hostile-sweep.ts) and the hostile benchmark.
 */

export const HOSTILE_KINDS = ['long-field', 'many-items', 'entity-refs', 'entity-refs-spread'] as const;
export type HostileKind = (typeof HOSTILE_KINDS)[number];

export const HOSTILE_ID = 'HOSTILE-1';

const item = (id: string, inner = '') =>
  `<ConnectionRequest><ID>${id}</ID><FirstName>Ada</FirstName><Status>Pending</Status><RequestToken>rt</RequestToken>${inner}</ConnectionRequest>`;

const page = (items: string) => `<ConnectionRequests><Items>${items}</Items></ConnectionRequests>`;

export function hostileBody(kind: HostileKind): string {
  switch (kind) {
    // One 4 MiB field.
    case 'long-field':
      return page(item(HOSTILE_ID, `<LastName>${'x'.repeat(4 * 1024 * 1024)}</LastName>`));
    // 15,000 small requests on one page (the relay asks for 10).
    case 'many-items':
      return page(Array.from({ length: 15_000 }, (_, i) => `<ConnectionRequest><ID>H${i}</ID><Status>Pending</Status></ConnectionRequest>`).join(''));
    // 200,000 entity references in one field.
    case 'entity-refs':
      return page(item(HOSTILE_ID, `<LastName>${'&amp;'.repeat(200_000)}</LastName>`));
    // The same 200,000 references in 200 unknown elements of 1,000 each: no run of text is long.
    case 'entity-refs-spread':
      return page(item(HOSTILE_ID, Array.from({ length: 200 }, (_, i) => `<Note${i}>${'&amp;'.repeat(1000)}</Note${i}>`).join('')));
  }
}
