export { PROBED_PROG_TYPES, helperAllowedByLog } from './probe-log.js';
export type { ArgType, RetType, HelperProto } from './types.js';
export { HELPER_PROTOS, helperProto, deriveArgs, deriveRet } from './prototypes.js';
export { allowedHelpers, isHelperAllowed, ALLOWED_HELPERS_KERNEL } from './allowed.js';
export { Runtime, type RuntimeOptions, type EventContext, type TraceLine, type PacketState } from './runtime.js';
export { HELPER_IMPLS, type HelperImpl } from './impl.js';
export { packetPointers, setPacketPointers, readCtxPointer, writeCtxPointer, type PacketPointers } from './packet.js';
export { parseFormat, formatValue, type Conversion } from './format.js';
export { userTestRun, type UserTestRunOptions } from './test-run.js';
