export { JitBackend, JitProgram, MAX_TAIL_CALLS, type JitOptions, type JitRunOptions, type JitRunResult, type JitTestRunOptions, type CompileStats } from './backend.js';
export { compileProgram, slotProgram, TrapKind, type CompileOptions, type CompiledModule } from './compile.js';
export { buildCfg, type Cfg, type Block, type SlotProgram } from './cfg.js';
