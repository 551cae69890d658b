import { helperId } from '@tsbpf/core';
import type { Runtime } from '../runtime.js';

/** Calls helper `name` with r1..r5 through the runtime's ABI (u32 pairs) and returns r0, unsigned 64-bit. */
export function callHelper(rt: Runtime, name: string, ...args: (number | bigint)[]): bigint {
  const r = new Uint32Array(12);
  args.forEach((a, i) => {
    const v = BigInt.asUintN(64, BigInt(a));
    r[2 * (i + 1)] = Number(v & 0xffffffffn);
    r[2 * (i + 1) + 1] = Number(v >> 32n);
  });
  rt.call(helperId(name)!, r);
  return (BigInt(r[1]) << 32n) | BigInt(r[0]);
}
