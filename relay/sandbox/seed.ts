import { REQUEST_TOKEN_TTL_MS } from '../../shared/status.js';
import { type Random, connectionRequestId, requestToken } from './random.js';

/**
 * Realistic travellers for the sandbox: accents, apostrophes, hyphens and particles, so every
 * layer (XML escaping, JSON, the UI) meets the names real partners see.
 */

interface Traveller {
  first: string;
  middle?: string;
  last: string;
}

export const TRAVELLERS: readonly Traveller[] = [
  { first: 'Zoë', last: 'Ó Briain' },
  { first: 'Renée', last: "D'Amico" },
  { first: 'José', middle: 'Antonio', last: 'Müller-Lüdenscheidt' },
  { first: 'Siobhán', last: "O'Neill" },
  { first: 'Łukasz', last: 'Żółć' },
  { first: 'Maria', last: 'Smith' },
  { first: 'François', middle: 'Xavier', last: 'Lefèvre' },
  { first: 'Björn', last: 'Ångström' },
  { first: 'Chloé', last: 'Dubois-Martín' },
  { first: 'Søren', middle: 'Aabye', last: 'Kierkegård' },
  { first: 'Aoife', last: 'Ní Bhriain' },
  { first: 'Mary-Jane', middle: 'Louise', last: "O'Connor" },
  { first: 'Ana María', last: 'Núñez Íñiguez' },
  { first: 'Jürgen', last: 'Groß' },
  { first: 'Hélène', middle: 'Marie', last: 'Côté' },
  { first: 'Małgorzata', last: 'Wiśniewska' },
  { first: 'Ömer', last: 'Yılmaz' },
  { first: 'Nguyễn', middle: 'Thị', last: 'Minh Khai' },
  { first: 'Priya', last: 'Raghunathan' },
  { first: 'Tomás', last: 'Ó Súilleabháin' },
  { first: 'Ingrid', last: 'Bjørnstad' },
  { first: 'Kofi', middle: 'Atta', last: 'Mensah' },
  { first: 'Dušan', last: 'Ševčík' },
  { first: 'Hiroshi', last: 'Tanaka' },
  { first: 'Eóin', last: 'Mac Giolla Phádraig' },
  { first: 'Amélie', last: "L'Écuyer" },
];

const DISCOUNT_CODES = ['CORP2024', 'TLK-AMEX-07', 'GOV-EU', 'SKY10', 'BIZ-PLAT'] as const;

/** The fields of one connection request, before the state gives it a place in the queue. */
export interface RequestFields {
  id: string;
  userId: string;
  firstName: string | null;
  middleName: string | null;
  lastName: string | null;
  loyaltyNumber: string | null;
  discountCode: string | null;
  message: string | null;
  /** What API 3.2 sends as emailAddresses (email1 first); the other versions do not send them. */
  emailAddresses: readonly string[];
  requestToken: string;
  /** When the request token was issued, and the request last changed (ms since the epoch). */
  lastModified: number;
}

/** An 8-digit loyalty number; about a quarter start with zeros (they must stay strings). */
export function loyaltyNumber(random: Random): string {
  if (random.chance(0.25)) {
    const zeros = random.int(1, 2);
    return '0'.repeat(zeros) + random.digits(8 - zeros);
  }
  return `${random.int(1, 9)}${random.digits(7)}`;
}

/** Letters a mailbox can take: accents dropped (Zoë → zoe), anything else removed. */
function mailbox(name: string): string {
  return name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/ß/g, 'ss')
    .replace(/ø/g, 'o')
    .replace(/ł/g, 'l')
    .replace(/ı/g, 'i')
    .replace(/[^a-z]+/g, '');
}

/** A work address, and for some travellers a second one: Concur sends up to five. */
function addressesOf(traveller: Traveller, digit: number): string[] {
  const work = `${mailbox(traveller.first)}.${mailbox(traveller.last)}@example.com`;
  return digit < 3 ? [work, `${mailbox(traveller.first)}${digit}@example.org`] : [work];
}

/** One generated request, modified `ageMs` before `now`. */
export function generateRequest(random: Random, now: number, ageMs = 0): RequestFields {
  const traveller = random.pick(TRAVELLERS);
  // Concur writes an absent middle name as `<MiddleName />` (v3.0) or null (v3.2 JSON): both occur.
  const middleName = traveller.middle ?? (random.chance(0.2) ? null : '');
  // Drawn in the order they always were, so a seed gives the travellers it always gave.
  const id = connectionRequestId(random);
  const userId = random.guid();
  const loyalty = loyaltyNumber(random);
  return {
    id,
    userId,
    firstName: traveller.first,
    middleName,
    lastName: traveller.last,
    loyaltyNumber: loyalty,
    discountCode: random.chance(0.6) ? null : random.pick(DISCOUNT_CODES),
    message: '',
    // From what was drawn, not drawn anew: the addresses add nothing to the PRNG's sequence.
    emailAddresses: addressesOf(traveller, Number(loyalty.at(-1))),
    requestToken: requestToken(random),
    lastModified: now - ageMs,
  };
}

/**
 * The seeded queue: `count` pending requests, oldest first. About half were issued in the last
 * 14 minutes (their request tokens are still fresh); the rest are spread over the last six hours
 * (expired tokens, as a partner that was down for a while would find them).
 */
export function seedRequests(random: Random, now: number, count: number): RequestFields[] {
  const ages: number[] = [];
  for (let i = 0; i < count; i++) {
    ages.push(
      random.chance(0.5)
        ? random.int(30_000, REQUEST_TOKEN_TTL_MS - 60_000)
        : random.int(20 * 60_000, 6 * 60 * 60_000),
    );
  }
  ages.sort((a, b) => b - a);
  return ages.map((age) => generateRequest(random, now, Math.round(age / 1000) * 1000));
}
