export { Code, checkCode, checkStructure, subprogStarts, toSlots, type StructureError, type SlotView } from './structure.js';
export * from './tnum.js';
export { verify } from './verify.js';
export { funcsFromBtf } from './func-info.js';
export { lineInfoOf } from './line-info.js';
export type { VerifyOptions, VerifyResult, VerifyError, VerifyStats, VerifierMap, FuncArg, FuncFacts, LineInfo } from './types.js';
export * from './corpus.js';
export { objectVerifier } from './object.js';
