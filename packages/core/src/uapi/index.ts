export * from './prog-types.js';
export * from './attach-types.js';
export * from './map-types.js';
export * from './helper-ids.js';
export * from './flags.js';
export * from './ctx-layout.js';
