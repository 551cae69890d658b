export { InterpBackend, InterpProgram, type InterpTestRunOptions } from './backend.js';
export { Decoded, run, RuntimeError, MAX_CALL_FRAMES, MAX_TAIL_CALLS, type RunResult, type RunOptions, type RunLimits, type RuntimeErrorCode } from './interp.js';
