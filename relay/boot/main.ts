import { runService } from './service.js';

/** `npm run relay`: the relay as a process (service.ts). */
await runService(process.env);
