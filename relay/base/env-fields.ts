import { z } from 'zod';
import { parseVaultKey } from '../vault/vault.js';

/**
 * The kinds of environment variable the relay reads: one builder per kind, each a zod schema from
 * the raw variable (a string, or undefined) to its value. config.ts puts them together.
 *
 * What every builder does the same way:
 * - unset, empty and blank all count as unset (so `FOO=` in an env file means "use the default");
 *   values are trimmed;
 * - a mistake is a zod issue whose message says what is wrong and whose params (a `Fix`) say how
 *   to put it right; `problemLines` turns the issues into the one-line-per-problem text;
 * - one problem per variable (the first rule it breaks), except lists: one per bad item;
 * - a secret's value is never put into a message.
 */

/** How to put a problem right: what to do, and/or a good value. Carried in the issue's params. */
export interface Fix {
  advice?: string;
  example?: string;
}

/** What `envList` makes of one item: its value (normalised), or what is wrong with it. */
export type ListItem = string | { problem: string; fix: Fix };

/** `(got "…")` for a value that is safe to show; long values are shortened. */
export function got(value: string): string {
  const shown = value.length > 80 ? `${value.slice(0, 77)}...` : value;
  return `(got ${JSON.stringify(shown)})`;
}

/** A visible-ASCII token with no spaces: what can go in an HTTP header as a credential. */
export const isToken = (value: string): boolean => /^[\x21-\x7e]+$/.test(value);

/** `.refine()` params for one rule of a variable; `message` may show the value (via `got`). */
function rule(message: string | ((value: string) => string), fix: Fix): z.core.$ZodCustomParams {
  return {
    error: (issue) => (typeof message === 'string' ? message : message(String(issue.input))),
    params: fix,
    // One problem per variable: a rule is looked at only while the value has passed every earlier one.
    when: (payload) => payload.issues.length === 0,
  };
}

function unlessBlank(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  const trimmed = value.trim();
  return trimmed === '' ? undefined : trimmed;
}

/** A variable with no default: undefined when unset (config.ts tells unset from set by that). */
function envOptional<T>(schema: z.ZodType<T, string>) {
  return z.preprocess(unlessBlank, schema.optional());
}

/** A variable with a default. */
export function envWithDefault<T>(schema: z.ZodType<T, string>, fallback: T) {
  return envOptional(schema).transform((value): T => value ?? fallback);
}

function httpUrl(value: string): URL | undefined {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url : undefined;
  } catch {
    return undefined;
  }
}

/** An http(s) URL with no user name or password, returned without a trailing slash. */
export function envUrl(example: string, options: { allowQuery?: boolean } = {}) {
  const fix = { example };
  const extra = options.allowQuery ? 'a fragment (#…)' : 'a query (?…) or fragment (#…)';
  return envOptional(
    z
      .string()
      .refine(
        (value) => httpUrl(value) !== undefined,
        // An unparsable value may still carry credentials; it is only shown when it has no "@".
        rule((value) => `must be an http(s) URL ${value.includes('@') ? '(value not shown)' : got(value)}`, fix),
      )
      .refine((value) => {
        const url = httpUrl(value);
        return url?.username === '' && url.password === '';
      }, rule('must not contain a user name or password (value not shown)', fix))
      .refine((value) => {
        const url = httpUrl(value);
        return url?.hash === '' && (options.allowQuery || url.search === '');
      }, rule((value) => `must not have ${extra} ${got(value)}`, fix))
      .transform((value) => {
        const url = new URL(value);
        return url.search === '' ? url.href.replace(/\/+$/, '') : url.href;
      }),
  );
}

/** A credential that goes into an HTTP header; never shown. */
export function envSecret(example: string) {
  return envOptional(
    z
      .string()
      .refine(
        isToken,
        rule('contains spaces, quotes or characters outside printable ASCII (value not shown)', {
          advice: 'set the value alone',
          example,
        }),
      ),
  );
}

/** A vault key: 32 random bytes as base64 or hex; never shown. */
export function envVaultKey() {
  return envOptional(
    z.string().refine(
      (value) => parseVaultKey(value) !== undefined,
      rule('must be 32 random bytes in base64 or hex (value not shown)', {
        advice: 'make one with `openssl rand -base64 32`',
        example: '<the output of openssl rand -base64 32>',
      }),
    ),
  );
}

/** Each item a vault key (RELAY_VAULT_OLD_KEYS); never shown. */
export function vaultKeyItem(value: string, index: number, count: number): ListItem {
  if (parseVaultKey(value) !== undefined) return value;
  const which = count === 1 ? 'the key' : `key ${index + 1} of ${count}`;
  return {
    problem: `${which} is not 32 random bytes in base64 or hex (value not shown)`,
    fix: { advice: 'list the earlier RELAY_VAULT_KEY values, comma-separated', example: '<old key 1>,<old key 2>' },
  };
}

/**
 * A number within [min, max] (or (min, max] with `minExclusive`); `tooLow` and `tooHigh` (by
 * default the same) say what is allowed, e.g. "a whole number of seconds, at least 1".
 */
export function envNumber(range: {
  fallback: number;
  whole?: boolean;
  min: number;
  minExclusive?: boolean;
  max: number;
  tooLow: string;
  tooHigh?: string;
}) {
  const fix = { example: String(range.fallback) };
  // Digits only: Number() would also take "0x10", "1e3" and "Infinity".
  const number = (value: string) => (/^\+?(\d+(\.\d+)?|\.\d+)$/.test(value) ? Number(value) : Number.NaN);
  const highEnough = (n: number) => (range.minExclusive ? n > range.min : n >= range.min);
  return envWithDefault(
    z
      .string()
      .refine((value) => {
        const n = number(value);
        return Number.isFinite(n) && (!range.whole || Number.isInteger(n)) && highEnough(n);
      }, rule((value) => `must be ${range.tooLow} ${got(value)}`, fix))
      .refine(
        (value) => number(value) <= range.max,
        rule((value) => `must be ${range.tooHigh ?? range.tooLow} ${got(value)}`, fix),
      )
      .transform(number),
    range.fallback,
  );
}

const TRUE_WORDS = ['true', '1', 'yes', 'on'];
const FALSE_WORDS = ['false', '0', 'no', 'off'];

/** true/false, 1/0, yes/no or on/off, in any case. */
export function envBoolean(fallback: boolean) {
  return envWithDefault(
    z
      .string()
      .refine(
        (value) => [...TRUE_WORDS, ...FALSE_WORDS].includes(value.toLowerCase()),
        rule((value) => `must be true or false (1/0, yes/no, on/off also work) ${got(value)}`, {
          example: String(fallback),
        }),
      )
      .pipe(z.stringbool({ truthy: TRUE_WORDS, falsy: FALSE_WORDS, case: 'insensitive' })),
    fallback,
  );
}

function oneOf<const T extends string>(options: readonly T[], example: string) {
  const allowed: readonly string[] = options;
  const listed = `${options.slice(0, -1).join(', ')} or ${options.at(-1)}`;
  return z
    .string()
    .transform((value) => allowed.find((option) => option.toLowerCase() === value.toLowerCase()) ?? value)
    .refine(
      (value): value is T => allowed.includes(value),
      rule((value) => `must be ${listed} ${got(value)}`, { example }),
    );
}

/** One of `options`, in any case; the value is the option as spelled in `options`. */
export function envEnum<const T extends string>(options: readonly T[], fallback: NoInfer<T>) {
  return envWithDefault(oneOf(options, fallback), fallback);
}

/** Like envEnum, but undefined when unset: for a default that depends on other variables. */
export function envChoice<const T extends string>(options: readonly T[], example: NoInfer<T>) {
  return envOptional(oneOf(options, example));
}

/**
 * A Standard Webhooks secret, `whsec_` and 24 to 64 random bytes in base64 (what Svix and the
 * `standardwebhooks` libraries make and read); never shown.
 */
export function envWebhookSecret(example: string) {
  const keyBytes = (value: string) =>
    /^whsec_[A-Za-z0-9+/]+={0,2}$/.test(value) ? Buffer.from(value.slice('whsec_'.length), 'base64').length : 0;
  return envOptional(
    z.string().refine(
      (value) => keyBytes(value) >= 24 && keyBytes(value) <= 64,
      rule('must be whsec_ followed by 24 to 64 random bytes in base64 (value not shown)', {
        advice: 'make one with `echo whsec_$(openssl rand -base64 32)` and give the directory the same',
        example,
      }),
    ),
  );
}

/** A host name or IP address to listen on (an IPv6 address may be in brackets; Node wants it without). */
export function envHost(fallback: string, example: string) {
  const unbracketed = (value: string) => (/^\[.*\]$/.test(value) ? value.slice(1, -1) : value);
  return envWithDefault(
    z
      .string()
      .refine(
        (value) => /^([0-9a-fA-F.]*:[0-9a-fA-F:.]*|[A-Za-z0-9.-]+)$/.test(unbracketed(value)),
        rule((value) => `must be a host name or IP address, without scheme, path or port ${got(value)}`, { example }),
      )
      .transform(unbracketed),
    fallback,
  );
}

/** A path to a file (not a folder). */
export function envFile(fallback: string) {
  return envWithDefault(
    z
      .string()
      .refine(
        (value) => !/[\\/]$/.test(value),
        rule((value) => `must be a file, not a folder ${got(value)}`, { example: fallback }),
      ),
    fallback,
  );
}

function listItems(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  const items = value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
  // Nothing left (`FOO= , ,`) counts as unset, like a blank variable.
  return items.length === 0 ? undefined : items;
}

/**
 * Comma-separated; items trimmed, empty ones dropped. `item` checks and normalises one item (it
 * is told its position, for messages); the list keeps the first of equal items, in order.
 */
export function envList(item: (value: string, index: number, count: number) => ListItem) {
  return z.preprocess(
    listItems,
    z
      .array(z.string())
      .transform((values, ctx) => {
        const kept: string[] = [];
        values.forEach((value, index) => {
          const result = item(value, index, values.length);
          if (typeof result !== 'string') {
            ctx.issues.push({ code: 'custom', message: result.problem, params: result.fix, input: values });
          } else if (!kept.includes(result)) {
            kept.push(result);
          }
        });
        return kept;
      })
      .optional(),
  );
}

/**
 * The issues of a failed parse as problem lines (`VARIABLE: what is wrong; e.g. VARIABLE=example`),
 * in the order of `variables`, so that a user reads them in the order of the README's table.
 */
export function problemLines(issues: readonly z.core.$ZodIssue[], variables: readonly string[]): string[] {
  const position = (issue: z.core.$ZodIssue) => {
    const index = variables.indexOf(String(issue.path[0]));
    return index === -1 ? variables.length : index;
  };
  return [...issues]
    .sort((a, b) => position(a) - position(b))
    .map((issue) => {
      const name = issue.path.length === 0 ? 'environment' : String(issue.path[0]);
      const fix: Fix = issue.code === 'custom' ? (issue.params ?? {}) : {};
      const example = fix.example === undefined ? undefined : `e.g. ${name}=${fix.example}`;
      const how = [fix.advice, example].filter((part) => part !== undefined).join(', ');
      return how === '' ? `${name}: ${issue.message}` : `${name}: ${issue.message}; ${how}`;
    });
}
