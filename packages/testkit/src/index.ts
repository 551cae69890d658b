export * from './shared.js';
export * from './backend-suite.js';
export * from './bench-expected.js';
export * from './random.js';
export * from './generate.js';
export * from './runtime-suite.js';
export * from './map-programs.js';
