export * from './errors.js';
export * from './isa/opcodes.js';
export * from './isa/insn.js';
