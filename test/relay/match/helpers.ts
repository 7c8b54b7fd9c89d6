import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { MatchRequest, type MatchAnswer } from '../../../shared/match.js';

/**
 * A partner's member directory on 127.0.0.1, built with node:http: what the tests point
 * RELAY_MATCH_URL at. It checks each call's signature with the independent `standardwebhooks`
 * package and refuses a bad one with 401, as a real directory must; it keeps every body it got,
 * so a test can look for a token in all of them; and it answers what the test tells it to.
 */

export const DIRECTORY_SECRET = `whsec_${Buffer.from('the member directory secret, 32 bytes!').toString('base64')}`;

/** One call as the directory got it. */
export interface DirectoryCallSeen {
  headers: Record<string, string>;
  body: string;
  /** Whether the signature held (with the directory's own secret). */
  signed: boolean;
  /** The question, when the signature held and it is one. */
  question: MatchRequest | null;
}

/**
 * What to do with one question: an answer (200 with it as JSON), a status with a raw body, hang
 * (never answer), or wait first. A function of the question, so tests can answer by request id.
 */
export type DirectoryReply =
  | MatchAnswer
  | { status: number; body: string; delayMs?: number }
  | { answer: MatchAnswer; delayMs: number }
  | 'hang';

export class TestDirectory {
  readonly calls: DirectoryCallSeen[] = [];
  url = '';
  /** The answer to each signed question; default: a member. */
  answer: (question: MatchRequest) => DirectoryReply | Promise<DirectoryReply> = (q) => ({ result: 'member', memberId: `M-${q.data.requestId}` });
  readonly #verifier: StandardWebhook;
  #server: Server | undefined;
  readonly #hanging = new Set<ServerResponse>();

  /** `secret`: what the directory checks signatures with (default DIRECTORY_SECRET). */
  constructor(secret = DIRECTORY_SECRET) {
    this.#verifier = new StandardWebhook(secret);
  }

  async start(): Promise<this> {
    this.#server = createServer((req, res) => void this.#handle(req, res));
    await new Promise<void>((resolve, reject) => {
      this.#server!.once('error', reject);
      this.#server!.listen(0, '127.0.0.1', resolve);
    });
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/concur/match`;
    return this;
  }

  /** The signed questions, by request id. */
  questionsAbout(requestId: string): MatchRequest[] {
    return this.calls.flatMap((call) => (call.question?.data.requestId === requestId ? [call.question] : []));
  }

  async close(): Promise<void> {
    const server = this.#server;
    if (server === undefined) return;
    this.#server = undefined;
    for (const res of this.#hanging) res.destroy();
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) if (typeof value === 'string') headers[name] = value;
    let signed = true;
    try {
      this.#verifier.verify(body, headers);
    } catch {
      signed = false;
    }
    const parsed = signed ? MatchRequest.safeParse(JSON.parse(body)) : null;
    const question = parsed?.success ? parsed.data : null;
    this.calls.push({ headers, body, signed, question });
    if (!signed) return void res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"bad signature"}');
    if (question === null) return void res.writeHead(400).end();
    const reply = await this.answer(question);
    if (reply === 'hang') return void this.#hanging.add(res);
    if ('delayMs' in reply && reply.delayMs !== undefined) await new Promise((resolve) => setTimeout(resolve, reply.delayMs));
    if (res.destroyed) return;
    if ('status' in reply) return void res.writeHead(reply.status, { 'content-type': 'application/json' }).end(reply.body);
    const answer = 'answer' in reply ? reply.answer : reply;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
  }
}
