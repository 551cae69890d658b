import { ProgType, progTypeName } from '@tsbpf/core';
import { ALLOWED_HELPERS, KERNEL_RELEASE } from './generated/allowed.js';

export { KERNEL_RELEASE as ALLOWED_HELPERS_KERNEL };

/**
 * The helper ids a program type may call, as the kernel's `get_func_proto` decides (recorded from
 * a live kernel by scripts/probe-kernel-helpers.mjs, privileged, GPL-compatible license), or
 * `undefined` for a program type not recorded.
 */
export function allowedHelpers(progType: ProgType): ReadonlySet<number> | undefined {
  let set = ALLOWED_SETS.get(progType);
  if (set === undefined && !ALLOWED_SETS.has(progType)) {
    const ids = ALLOWED_HELPERS[progTypeName(progType) ?? ''];
    set = ids ? new Set(ids) : undefined;
    ALLOWED_SETS.set(progType, set);
  }
  return set;
}
const ALLOWED_SETS = new Map<number, ReadonlySet<number> | undefined>();

/** Whether `progType` may call helper `id` (`undefined` when the program type is not recorded). */
export function isHelperAllowed(progType: ProgType, id: number): boolean | undefined {
  return allowedHelpers(progType)?.has(id);
}
