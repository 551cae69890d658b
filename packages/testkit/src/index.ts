export * from './shared.js';
export * from './backend-suite.js';
