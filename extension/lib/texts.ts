import type { Problem } from './problems.js';

/**
 * Every user-facing text, colour and badge mark of the extension, in one table. Components and
 * the background read from here; nothing else spells a message.
 */

export const COLOURS = {
  /** The product colour: the pending count. */
  brand: '#1f6feb',
  error: '#cb2431',
  warning: '#f59f00',
  neutral: '#6a737d',
} as const;

export interface ProblemText {
  /** At most 4 characters: what fits on a badge. */
  badge: string;
  colour: string;
  /** The toolbar button's tooltip. */
  title: string;
  /** What the popup says, and what the user can do about it. */
  message: string;
}

export const PROBLEM_TEXTS: Readonly<Record<Problem, ProblemText>> = {
  not_configured: {
    badge: 'X',
    colour: COLOURS.neutral,
    title: 'TripLink Relay: not set up yet. Open the options to enter the relay’s address and API key.',
    message: 'Tell the extension where your relay is and which API key to use.',
  },
  offline: {
    badge: 'off',
    colour: COLOURS.warning,
    title: 'TripLink Relay: this computer is offline. Counts resume when it is back.',
    message: 'You are offline. The list comes back by itself when the connection does.',
  },
  unreachable: {
    badge: '!',
    colour: COLOURS.error,
    title: 'TripLink Relay: the relay does not answer. Is it running, and is the address right?',
    message: 'The relay does not answer. Check that it is running and that the address in the options is right.',
  },
  key_refused: {
    badge: 'key',
    colour: COLOURS.error,
    title: 'TripLink Relay: the relay refused the API key. Enter a valid key in the options.',
    message: 'The relay refused the API key. Enter the key it printed (or one of RELAY_API_KEYS) in the options.',
  },
  concur_unauthorized: {
    badge: '!',
    colour: COLOURS.error,
    title: 'TripLink Relay: Concur refused the relay’s credentials. Nothing new arrives until they are fixed.',
    message: 'Concur refused the relay’s credentials, so no new requests arrive. Whoever runs the relay must renew them.',
  },
  concur_degraded: {
    badge: '?',
    colour: COLOURS.warning,
    title: 'TripLink Relay: Concur is answering badly; the counts may be out of date.',
    message: 'Concur is not answering properly; what you see may be out of date. The relay keeps trying.',
  },
  relay_error: {
    badge: '!',
    colour: COLOURS.error,
    title: 'TripLink Relay: the relay answered with an error.',
    message: 'The relay answered with an error.',
  },
};

export const TEXT = {
  productName: 'TripLink Relay',
  badgeTitle: (pending: number) =>
    pending === 0 ? 'TripLink Relay: no pending connection requests' : `TripLink Relay: ${pending} pending connection request${pending === 1 ? '' : 's'}`,
  tabs: { pending: 'Pending', failed: 'Failed', connected: 'Connected' },
  empty: {
    pending: 'Nothing is waiting. New connection requests appear here as Concur sends them.',
    failed: 'No failed connections.',
    connected: 'No connected travellers yet.',
  },
  searchPlaceholder: 'Search name or loyalty number',
  noMatch: (query: string) => `Nothing matches “${query}”.`,
  loading: 'Loading connection requests…',
  openOptions: 'Open options',
  retry: 'Try again',
  sending: 'Sending…',
  primaryReply: 'Connected',
  tokenLeft: (minutes: number) => (minutes < 1 ? 'token: under a minute left' : `token: ${minutes} min left`),
  tokenExpired: 'token expired',
  notification: {
    oneTitle: (name: string) => `New connection request: ${name}`,
    oneMessage: (loyaltyNumber: string | null) => (loyaltyNumber ? `Loyalty number ${loyaltyNumber}` : 'No loyalty number given'),
    manyTitle: (count: number) => `${count} new connection requests`,
    manyMessage: (names: string[], more: number) => `${names.join(', ')}${more > 0 ? ` and ${more} more` : ''}`,
  },
  options: {
    title: 'TripLink Relay options',
    relayUrl: 'Relay address',
    apiKey: 'API key',
    notifications: 'Show a desktop notification for each new request',
    save: 'Save',
    saved: 'Saved.',
    test: 'Test connection',
    testing: 'Testing…',
    testOk: (state: string) => `The relay answers. Concur: ${state}.`,
    permissionDenied: 'The browser did not allow access to that address, so the extension cannot reach the relay.',
  },
  concurStates: {
    ok: 'working',
    degraded: 'answering badly',
    unauthorized: 'refusing the relay’s credentials',
    unknown: 'not polled yet',
  },
} as const;
