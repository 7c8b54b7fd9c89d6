export { createSandbox, DEFAULT_SEED_COUNT, type Sandbox, type SandboxOptions } from './app.js';
export { startSandbox, type RunningSandbox, type StartSandboxOptions } from './server.js';
export { ManualClock, OffsetClock, systemClock, type AdjustableClock, type Clock } from './clock.js';
export type { Credentials } from './auth.js';
export type { CallRecord } from './calls.js';
export type { Quirks } from './context.js';
export type { Fault, FaultSpec } from './faults.js';
export type { RequestView, SandboxRequest, SandboxState, SandboxStatus } from './state.js';
