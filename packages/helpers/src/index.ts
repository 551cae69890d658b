export { PROBED_PROG_TYPES, helperAllowedByLog } from './probe-log.js';
export type { ArgType, RetType, HelperProto } from './types.js';
export { HELPER_PROTOS, helperProto, deriveArgs, deriveRet } from './prototypes.js';
export { allowedHelpers, isHelperAllowed, ALLOWED_HELPERS_KERNEL } from './allowed.js';
