export { main, buildProgram } from './main.js';
export type { CliIo } from './io.js';
