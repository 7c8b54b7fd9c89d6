import { isoTime } from './clock.js';
import type { ReplyCode } from '../../shared/status.js';
import type { SandboxRequest, SandboxState, SandboxStatus } from './state.js';

/** How the control API shows a request: everything, times as ISO-8601. */
export interface RequestView {
  id: string;
  userId: string;
  firstName: string | null;
  middleName: string | null;
  lastName: string | null;
  loyaltyNumber: string | null;
  discountCode: string | null;
  message: string | null;
  emailAddresses: readonly string[];
  status: SandboxStatus;
  lastReply: ReplyCode | null;
  retries: number;
  requestToken: string;
  requestTokenIssuedAt: string;
  requestTokenExpiresAt: string;
  requestTokenExpired: boolean;
  requestTokenUsed: boolean;
  lastModified: string;
  createdAt: string;
  successfulPuts: number;
  userErrors: number;
  /** 3.2: when a popped request is back in the queue; null when it is in it. */
  poppedUntil: string | null;
}

export function requestView(state: SandboxState, request: SandboxRequest): RequestView {
  return {
    id: request.id,
    userId: request.userId,
    firstName: request.firstName,
    middleName: request.middleName,
    lastName: request.lastName,
    loyaltyNumber: request.loyaltyNumber,
    discountCode: request.discountCode,
    message: request.message,
    emailAddresses: request.emailAddresses,
    status: request.status,
    lastReply: request.lastReply,
    retries: request.retries,
    requestToken: request.requestToken,
    requestTokenIssuedAt: isoTime(request.requestTokenIssuedAt),
    requestTokenExpiresAt: isoTime(state.requestTokenExpiresAt(request)),
    requestTokenExpired: state.isRequestTokenExpired(request),
    requestTokenUsed: request.requestTokenUsed,
    lastModified: isoTime(request.lastModified),
    createdAt: isoTime(request.createdAt),
    successfulPuts: request.successfulPuts,
    userErrors: request.userErrors,
    poppedUntil: state.isPopped(request) ? isoTime(request.poppedUntil!) : null,
  };
}
