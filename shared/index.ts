export * from './status.js';
export * from './models.js';
