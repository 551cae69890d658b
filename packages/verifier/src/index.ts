export { checkStructure, subprogStarts, toSlots, type StructureError, type SlotView } from './structure.js';
export * from './tnum.js';
