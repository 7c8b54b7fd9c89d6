import type { Role } from '../../shared/roles.js';
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

/**
 * The colours of the extension's pages, for light and dark schemes (set as CSS custom properties
 * `--accent`, `--error` …; backgrounds and text use the system colours Canvas/CanvasText). The
 * dark variants keep text contrast on dark backgrounds.
 */
export const PAGE_COLOURS = {
  light: { accent: COLOURS.brand, error: COLOURS.error, ok: '#1a7f37', warning: '#9a6700', muted: '#57606a' },
  dark: { accent: '#58a6ff', error: '#ff7b72', ok: '#3fb950', warning: '#d29922', muted: '#9198a1' },
} as const;

/** The badge shows about 4 characters: counts above `maxCount` show as `overflow`. */
export const BADGE = {
  maxCount: 999,
  overflow: '999+',
  /** The badge's text colour on every background above (white reads on all of them). */
  textColour: '#ffffff',
} as const;

interface ProblemText {
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
  forbidden: {
    badge: 'key',
    colour: COLOURS.error,
    title: 'TripLink Relay: the relay does not let this API key do that. Ask an admin for a key with the right role.',
    message: 'The relay does not let this API key do that. Ask an admin of the relay for a key with the right role (a replier key to send replies).',
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
  exchange_unavailable: {
    badge: '!',
    colour: COLOURS.warning,
    title: 'TripLink Relay: the relay cannot connect travellers now; its partner credentials are missing or were refused.',
    message: 'The relay cannot connect travellers now: its partner credentials are missing or Concur refused them. Whoever runs the relay must set them.',
  },
  relay_error: {
    badge: '!',
    colour: COLOURS.error,
    title: 'TripLink Relay: the relay answered with an error.',
    message: 'The relay answered with an error.',
  },
};

/** What each role lets the extension's user do (shared/roles.ts), as the options page explains a key. */
const ROLE_ABILITIES: Readonly<Record<Role, string>> = {
  viewer: 'it sees the requests but cannot reply to them',
  replier: 'it sees the requests and replies to them',
  admin: 'it sees the requests, replies to them and manages the relay',
  broker: 'it is for a back office reading connections; the popup shows nothing with it',
};

export const TEXT = {
  productName: 'TripLink Relay',
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
  /** Minutes under 3.0's 15; hours once it is two or more (3.2's tokens are taken to live a day). */
  tokenLeft: (minutes: number) =>
    minutes < 1 ? 'token: under a minute left' : minutes < 120 ? `token: ${minutes} min left` : `token: ${Math.floor(minutes / 60)} h left`,
  tokenExpired: 'token expired',
  options: {
    title: 'TripLink Relay options',
    intro: 'Where your TripLink relay runs and which API key it accepts. The relay prints both when it starts.',
    relayUrl: 'Relay address',
    relayUrlHint: 'For example http://127.0.0.1:8787 or https://relay.example.com',
    apiKey: 'API key',
    apiKeyHint: 'The key the relay printed when it started, or one of its RELAY_API_KEYS.',
    showKey: 'Show',
    hideKey: 'Hide',
    showKeyLabel: 'Show the API key',
    hideKeyLabel: 'Hide the API key',
    notifications: 'Show a desktop notification for each new request',
    notificationsHint:
      'Requests already waiting when you save are not announced. When more than three arrive at once, one summary stands for them all.',
    save: 'Save',
    saving: 'Saving…',
    saved: 'Saved.',
    fixFields: 'Not saved: correct the marked fields.',
    loadFailed: 'The saved settings could not be read; enter them again.',
    test: 'Test connection',
    testing: 'Testing…',
    testOk: (state: string) => `The relay answers. Concur: ${state}.`,
    testCounts: (pending: number, failed: number, connected: number) =>
      `${pending} pending, ${failed} failed, ${connected} connected.`,
    testFailed: 'The test failed.',
    /** Who the key belongs to (GET /api/v1/me), under the key field: "This key belongs to Alice (replier): …". */
    identity: (name: string, role: Role) => `This key belongs to ${name} (${role}): ${ROLE_ABILITIES[role]}.`,
    permissionDenied:
      'Saved, without extra access to that address: the browser did not grant it. The extension then relies on the relay’s CORS, which allows browser-extension origins by default (unless RELAY_CORS_ORIGINS was changed).',
  },
  /** Inline validation messages of the settings (checkSettings). */
  settingsErrors: {
    relayUrlMissing: 'Enter the relay’s address, e.g. http://127.0.0.1:8787',
    relayUrlInvalid: 'That is not a web address. Try e.g. http://127.0.0.1:8787 or https://relay.example.com',
    relayUrlScheme: (scheme: string) => `The relay speaks http or https, not ${scheme}. Try e.g. http://127.0.0.1:8787`,
    relayUrlCredentials: 'Leave the user name and password out of the address: the relay checks the API key instead.',
    relayUrlExtra: 'Leave out everything after ? or #: the address is where the relay runs, e.g. https://relay.example.com',
    apiKeyMissing: 'Enter the API key the relay printed (or one of RELAY_API_KEYS)',
    apiKeySpaces: 'An API key has no spaces in it; check what was pasted',
  },
  concurStates: {
    ok: 'working',
    degraded: 'answering badly',
    unauthorized: 'refusing the relay’s credentials',
    unknown: 'not polled yet',
  },
} as const;

/**
 * The background's own texts: the toolbar button's tooltip and the desktop notifications. Kept
 * apart from TEXT because the popup and the options page never show them: this way their bundles
 * leave them out.
 */
export const BACKGROUND_TEXT = {
  /** `pending`: the requests that wait for a person; `auto`: those the relay is connecting by itself meanwhile. */
  badgeTitle: (pending: number, auto = 0) =>
    (pending === 0 ? 'TripLink Relay: no pending connection requests' : `TripLink Relay: ${pending} pending connection request${pending === 1 ? '' : 's'}`) +
    (auto > 0 ? ` (and ${auto} being connected automatically)` : ''),
  /** A problem's tooltip, with the last known pending count when there is one (Concur problems keep the list). */
  problemTitle: (title: string, pending?: number) =>
    pending === undefined ? title : `${title}\n${pending} pending connection request${pending === 1 ? '' : 's'} (last known).`,
  notification: {
    oneTitle: (name: string) => `New connection request: ${name}`,
    oneMessage: (loyaltyNumber: string | null) => (loyaltyNumber ? `Loyalty number ${loyaltyNumber}` : 'No loyalty number given'),
    manyTitle: (count: number) => `${count} new connection requests`,
    manyMessage: (names: string[], more: number) => `${names.join(', ')}${more > 0 ? ` and ${more} more` : ''}`,
    /** One line, at most once a minute, for the requests auto-connect connected: nobody needs to act on them. */
    autoTitle: (count: number) => `${count} member${count === 1 ? '' : 's'} connected automatically`,
    autoMessage: 'The member directory knew them; nobody needs to answer these.',
    /** The name shown when Concur sent neither a first nor a last name. */
    unnamed: 'a traveller without a name',
  },
} as const;

/** The popup's own texts (the shared ones above — tabs, empty, loading … — are used as they are). */
export const POPUP_TEXT = {
  tabsLabel: 'Connection requests by state',
  searchLabel: 'Search the current tab by name or loyalty number',
  listLabel: (tab: string) => `${tab} connection requests`,
  matches: (shown: number, total: number) => `${shown} of ${total} shown`,
  noName: '(no name given)',
  noLoyalty: 'no loyalty number',
  loyalty: (n: string) => `Loyalty ${n}`,
  age: (ms: number) => {
    const minutes = Math.floor(Math.max(0, ms) / 60_000);
    if (minutes < 1) return 'just now';
    if (minutes < 60) return `${minutes} min ago`;
    const hours = Math.floor(minutes / 60);
    if (hours < 48) return `${hours} h ago`;
    return `${Math.floor(hours / 24)} days ago`;
  },
  /**
   * The text on a reply button: the catalogue's short label without its parenthesis (the full
   * description is the tooltip), or a verb where the label describes a state.
   */
  replyButton: (code: string, label: string) => {
    if (code === 'CRSUC') return TEXT.primaryReply;
    if (code === 'CRRET') return 'Ask for a new token';
    const short = label.replace(/\s*\([^)]*\)\s*$/, '');
    return short.charAt(0).toUpperCase() + short.slice(1);
  },
  replyAria: (button: string, name: string) => `${button}: reply for ${name}`,
  moreReplies: 'More',
  moreRepliesAria: (name: string) => `More replies for ${name}`,
  /**
   * The relay cannot connect anyone now (its summary's `exchange`, with the relay's reason): said
   * once above the list, and as the disabled Connected button's tooltip.
   */
  connectUnavailable: (reason: string | null) =>
    `Connecting is unavailable: ${reason ?? 'the relay cannot exchange request tokens (its partner credentials are missing or were refused).'}`,
  retryLimit: (retries: number, max: number) =>
    `Concur allows ${max} new tokens per request and this one has had ${retries}.`,
  /** API 3.2: Concur requeues a request after a CREU code at most this often (the relay refuses one more, 409). */
  userErrorLimit: (used: number, max: number) =>
    `Concur takes ${max} loyalty-number replies per request and this one has had ${used}.`,
  /**
   * How much of Concur's retry allowance a request has used: "2 of 48 retries used", and under API
   * 3.2 (which limits them too) the CREU codes, all about the loyalty number: "1 of 4 loyalty-number replies used".
   */
  retriesUsed: (retries: number, max: number) => `${retries} of ${max} retries used`,
  userErrorsUsed: (used: number, max: number) => `${used} of ${max} loyalty-number replies used`,
  /** The traveller's e-mail addresses (API 3.2 sends up to five), as one line. */
  emails: (addresses: readonly string[]) => addresses.join(', '),
  emailsTitle: (addresses: readonly string[]) => `E-mail: ${addresses.join(', ')}`,
  expiredHint: 'The request token has expired: ask Concur for a new one, or report the expiry.',
  retryAria: (button: string, name: string) => `${TEXT.retry}: send “${button}” again for ${name}`,
  queued: (button: string, attempts: number, lastError: string | null) =>
    attempts === 0
      ? `“${button}” is on its way to Concur…`
      : `“${button}” is on its way to Concur (attempt ${attempts}${lastError ? `: ${lastError}` : ''})…`,
  /**
   * A CRSUC whose request token the relay is exchanging for the traveller's own tokens (the seed's
   * CRSUC means the partner holds them); `attempts` as in `queued`.
   */
  exchanging: (attempts: number, lastError: string | null) =>
    attempts === 0
      ? 'Connecting… (getting the traveller’s tokens from Concur)'
      : `Connecting… (getting the traveller’s tokens from Concur, attempt ${attempts}${lastError ? `: ${lastError}` : ''})`,
  /**
   * The exchange could not work (the token had expired or was used): the relay sent CRRET and
   * finishes the CRSUC by itself once the next poll brings the new token. Nothing for a person to do.
   */
  waitingToken: (lastError: string | null) =>
    `Asked Concur for a new token${lastError ? ` (${lastError})` : ''}; connecting goes on by itself when it comes.`,
  concurRefused: (button: string, lastError: string | null) =>
    `Concur refused “${button}”${lastError ? `: ${lastError}` : '.'}`,
  sendFailed: (button: string, message: string) => `“${button}” was not sent. ${message}`,
  announceSent: (button: string, name: string) => `Sent “${button}” for ${name}.`,
  announceAccepted: (button: string, name: string) => `Concur accepted “${button}” for ${name}.`,
  announceRefused: (button: string, name: string, lastError: string | null) =>
    `Concur refused “${button}” for ${name}${lastError ? `: ${lastError}` : '.'}`,
  announceWaitingToken: (name: string) => `Asked Concur for a new token for ${name}; connecting goes on by itself.`,
  announceSendFailed: (button: string, name: string, message: string) =>
    `“${button}” for ${name} was not sent. ${message}`,
  /**
   * Who asked for a row's reply, and when: "Connected by Alice · 2 min ago", "“Ask for a new
   * token” by Bob · just now"; `by` null: auto-connect ("Connected automatically · 1 min ago").
   */
  replyBy: (code: string, button: string, by: string | null, age: string) =>
    `${code === 'CRSUC' ? button : `“${button}”`} ${by === null ? 'automatically' : `by ${by}`} · ${age}`,
  /**
   * A connection's state (shared/connections.ts), on its request's row: whether the partner's
   * systems can use the traveller's tokens, and what to do when they cannot.
   */
  connection: {
    active: (refreshedAgo: string | null, lastError: string | null) =>
      lastError !== null
        ? `Connection active; the last token refresh failed (${lastError}), the relay tries again`
        : refreshedAgo === null
          ? 'Connection active'
          : `Connection active · tokens refreshed ${refreshedAgo}`,
    refreshFailed: (lastError: string | null) =>
      `Connection broken: the traveller must connect again${lastError ? ` (${lastError})` : ''}`,
    revoked: 'Connection revoked: the traveller’s tokens were erased',
  },
  /**
   * Auto-connect (DESIGN.md): what the member directory said about a request left to a person
   * (its `match`), with the directory's note when it gave one; `unknown` covers a call that failed.
   */
  directory: {
    member: 'directory: member',
    not_found: 'directory: not found',
    name_mismatch: 'directory: name mismatch',
    needs_verification: 'directory: needs verification',
    unknown: 'directory did not answer',
  },
  directoryNote: (said: string, note: string | null) => (note ? `${said} (${note})` : said),
  /** A request the relay handles by itself: its auto CRSUC on the way, or the directory not answered yet. */
  autoConnecting: 'auto-connecting…',
  askingDirectory: 'auto-connecting… (asking the member directory)',
  /** An auto reply other than CRSUC on its way (RELAY_AUTO_REPLY=all: the CREU codes). */
  autoReplying: (button: string) => `auto-replying “${button}”…`,
  /** Said once, above the list, to a key whose role may not reply (shared/roles.ts). */
  cannotReply: (name: string) => `Your key (${name}) can view requests but not reply — ask an admin for a replier key.`,
  refresh: 'Refresh',
  options: 'Options',
  liveOn: 'Live: changes appear as they happen',
  liveOff: 'Live updates are not connected; the list refreshes every half minute',
  unconfiguredTitle: 'Not set up yet',
  errorTitle: 'Cannot show the requests',
  keyboardHelp: 'j/k or ↑↓ move · Enter: reply buttons · Esc: back · / search',
  /** The same without replies, for a key that may not send them. */
  keyboardHelpView: 'j/k or ↑↓ move · / search',
  requestNotFound: 'That request is not known to the relay (any more).',
} as const;
