import { RuntimeError, helperName, layoutSlots, type Insn } from '@tsbpf/core';

export { RuntimeError, type RuntimeErrorCode } from '@tsbpf/core';
import { packetPointers, type Runtime } from '@tsbpf/helpers';

/** Limits of one run. */
export interface RunLimits {
  /** Instructions before `E_BUDGET` (default 100M). */
  budget?: number;
}

/** Dense handler index of each opcode (0: not an instruction), so the run loop's switch is a jump table. */
const OPMAP = new Uint8Array(256);
{
  OPMAP[0x07] = 1;
  OPMAP[0x17] = 2;
  OPMAP[0x27] = 3;
  OPMAP[0x37] = 4;
  OPMAP[0x47] = 5;
  OPMAP[0x57] = 6;
  OPMAP[0x67] = 7;
  OPMAP[0x77] = 8;
  OPMAP[0x87] = 9;
  OPMAP[0x97] = 10;
  OPMAP[0xa7] = 11;
  OPMAP[0xb7] = 12;
  OPMAP[0xc7] = 13;
  OPMAP[0x0f] = 14;
  OPMAP[0x1f] = 15;
  OPMAP[0x2f] = 16;
  OPMAP[0x3f] = 17;
  OPMAP[0x4f] = 18;
  OPMAP[0x5f] = 19;
  OPMAP[0x6f] = 20;
  OPMAP[0x7f] = 21;
  OPMAP[0x9f] = 22;
  OPMAP[0xaf] = 23;
  OPMAP[0xbf] = 24;
  OPMAP[0xcf] = 25;
  OPMAP[0xd7] = 26;
  OPMAP[0x04] = 27;
  OPMAP[0x0c] = 28;
  OPMAP[0x14] = 29;
  OPMAP[0x1c] = 30;
  OPMAP[0x24] = 31;
  OPMAP[0x2c] = 32;
  OPMAP[0x34] = 33;
  OPMAP[0x3c] = 34;
  OPMAP[0x44] = 35;
  OPMAP[0x4c] = 36;
  OPMAP[0x54] = 37;
  OPMAP[0x5c] = 38;
  OPMAP[0x64] = 39;
  OPMAP[0x6c] = 40;
  OPMAP[0x74] = 41;
  OPMAP[0x7c] = 42;
  OPMAP[0x84] = 43;
  OPMAP[0x94] = 44;
  OPMAP[0x9c] = 45;
  OPMAP[0xa4] = 46;
  OPMAP[0xac] = 47;
  OPMAP[0xb4] = 48;
  OPMAP[0xbc] = 49;
  OPMAP[0xc4] = 50;
  OPMAP[0xcc] = 51;
  OPMAP[0xd4] = 52;
  OPMAP[0xdc] = 53;
  OPMAP[0x18] = 54;
  OPMAP[0x61] = 55;
  OPMAP[0x69] = 56;
  OPMAP[0x71] = 57;
  OPMAP[0x79] = 58;
  OPMAP[0x81] = 59;
  OPMAP[0x89] = 60;
  OPMAP[0x91] = 61;
  OPMAP[0x62] = 62;
  OPMAP[0x6a] = 63;
  OPMAP[0x72] = 64;
  OPMAP[0x7a] = 65;
  OPMAP[0x63] = 66;
  OPMAP[0x6b] = 67;
  OPMAP[0x73] = 68;
  OPMAP[0x7b] = 69;
  OPMAP[0xc3] = 70;
  OPMAP[0xdb] = 71;
  OPMAP[0x05] = 72;
  OPMAP[0x06] = 73;
  OPMAP[0xe5] = 74;
  OPMAP[0x15] = 75;
  OPMAP[0x1d] = 76;
  OPMAP[0x55] = 77;
  OPMAP[0x5d] = 78;
  OPMAP[0x25] = 79;
  OPMAP[0x2d] = 80;
  OPMAP[0x35] = 81;
  OPMAP[0x3d] = 82;
  OPMAP[0xa5] = 83;
  OPMAP[0xad] = 84;
  OPMAP[0xb5] = 85;
  OPMAP[0xbd] = 86;
  OPMAP[0x65] = 87;
  OPMAP[0x6d] = 88;
  OPMAP[0x75] = 89;
  OPMAP[0x7d] = 90;
  OPMAP[0xc5] = 91;
  OPMAP[0xcd] = 92;
  OPMAP[0xd5] = 93;
  OPMAP[0xdd] = 94;
  OPMAP[0x45] = 95;
  OPMAP[0x4d] = 96;
  OPMAP[0x16] = 97;
  OPMAP[0x1e] = 98;
  OPMAP[0x56] = 99;
  OPMAP[0x5e] = 100;
  OPMAP[0x26] = 101;
  OPMAP[0x2e] = 102;
  OPMAP[0x36] = 103;
  OPMAP[0x3e] = 104;
  OPMAP[0xa6] = 105;
  OPMAP[0xae] = 106;
  OPMAP[0xb6] = 107;
  OPMAP[0xbe] = 108;
  OPMAP[0x66] = 109;
  OPMAP[0x6e] = 110;
  OPMAP[0x76] = 111;
  OPMAP[0x7e] = 112;
  OPMAP[0xc6] = 113;
  OPMAP[0xce] = 114;
  OPMAP[0xd6] = 115;
  OPMAP[0xde] = 116;
  OPMAP[0x46] = 117;
  OPMAP[0x4e] = 118;
  OPMAP[0x85] = 119;
  OPMAP[0x8d] = 120;
  OPMAP[0x95] = 121;
  OPMAP[0x20] = 122;
  OPMAP[0x28] = 123;
  OPMAP[0x30] = 124;
  OPMAP[0x40] = 125;
  OPMAP[0x48] = 126;
  OPMAP[0x50] = 127;
}

/** Kernel limits the interpreter keeps. */
export const MAX_CALL_FRAMES = 8;
export const MAX_TAIL_CALLS = 33;
const STACK = 512;
const TWO32 = 4294967296;

/**
 * A program decoded into flat typed arrays, one entry per 8-byte slot, so the run loop reads
 * numbers, never objects. `lddw` constants (and resolved pseudo forms) are kept in its slot.
 */
export class Decoded {
  readonly n: number;
  readonly op: Uint8Array;
  readonly dst: Uint8Array;
  readonly src: Uint8Array;
  readonly off: Int32Array;
  readonly imm: Int32Array;
  /** Second immediate of lddw (upper 32 bits) in the first slot. */
  readonly imm2: Int32Array;
  /** Whether the slot holds a known instruction. */
  readonly valid: Uint8Array;
  /** Handler index of each slot (0 for an invalid instruction). */
  readonly kind: Uint8Array;

  constructor(insns: readonly Insn[], resolveLddw?: (insn: Insn) => number | undefined) {
    const p = layoutSlots(insns, resolveLddw);
    this.n = p.n;
    this.op = p.op;
    this.dst = p.dst;
    this.src = p.src;
    this.off = p.off;
    this.valid = p.valid;
    this.kind = new Uint8Array(this.n);
    // lddw: the value in imm (low half) and imm2 (high half) of its first slot.
    this.imm = p.imm;
    this.imm2 = p.hi;
    for (let s = 0; s < this.n; s++) {
      if (p.op[s] === 0x18) this.imm[s] = p.lo[s];
      this.kind[s] = p.valid[s] ? OPMAP[p.op[s]] : 0;
    }
  }
}

/** Options of a run. */
export interface RunOptions extends RunLimits {
  /** r1..r5 at entry (numbers below 2^53). */
  args?: number[];
  /** The uBPF "unwind" helper of bpf_conformance: helper 5 returns r1 and stops the program when r1 is 0. */
  unwindHelper5?: boolean;
  /** Slot to start at (a callback's entry); 0 by default. */
  entry?: number;
  /** Programs tail calls may reach (through the runtime's prog arrays). */
}

/** What a run returns: r0 as two 32-bit halves (and as bigint for convenience) and the count of instructions. */
export interface RunResult {
  lo: number;
  hi: number;
  r0: bigint;
  insns: number;
}

/** Unsigned 32x32 -> high 32 bits of the 64-bit product. */
function mulhi(a: number, b: number): number {
  const a0 = a & 0xffff, a1 = a >>> 16, b0 = b & 0xffff, b1 = b >>> 16;
  const lo = a0 * b0;
  const mid1 = a1 * b0 + (lo >>> 16);
  const mid2 = a0 * b1 + (mid1 & 0xffff);
  return (a1 * b1 + (mid1 >>> 16) + (mid2 >>> 16)) >>> 0;
}

function toBig(lo: number, hi: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

function bswap32(x: number): number {
  return (((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24)) >>> 0;
}

/**
 * Runs a decoded program. Registers are pairs of u32 halves (`lo[r]`, `hi[r]`); 64-bit arithmetic
 * is done on the halves, with BigInt only for 64-bit division by a divisor above 2^32 or a
 * dividend above 2^53.
 */
export function run(prog: Decoded, rt: Runtime, opts: RunOptions = {}, tailTarget?: (p: unknown) => Decoded | undefined): RunResult {
  const space = rt.space;
  let mem = space.view;
  let memSize = space.size;
  const strict = space.strict;
  const lo = new Uint32Array(11);
  const hi = new Uint32Array(11);
  const helperRegs = new Uint32Array(12);
  // Stack: MAX_CALL_FRAMES frames of 512 bytes, allocated once per run; in strict mode each frame
  // is its own region, so an access past a frame's bottom faults instead of landing in the caller's.
  const frames = new Array<number>(MAX_CALL_FRAMES);
  if (strict) for (let f = 0; f < MAX_CALL_FRAMES; f++) frames[f] = space.alloc(STACK, 'stack');
  else {
    const stack = space.alloc(STACK * MAX_CALL_FRAMES, 'stack');
    for (let f = 0; f < MAX_CALL_FRAMES; f++) frames[f] = stack + STACK * f;
  }
  if (space.view !== mem) {
    mem = space.view;
    memSize = space.size;
  }
  const args = opts.args ?? [];
  for (let i = 0; i < args.length && i < 5; i++) {
    lo[i + 1] = args[i] >>> 0;
    hi[i + 1] = Math.floor(args[i] / TWO32) >>> 0;
  }
  let frame = 0;
  lo[10] = frames[0] + STACK; // r10 points just past the frame
  const retPc = new Int32Array(MAX_CALL_FRAMES);
  const saved = new Uint32Array(MAX_CALL_FRAMES * 8);
  let p = prog;
  let { op, dst: D, src: S, off: O, imm: I, imm2: I2, kind: K } = p;
  let n = p.n;
  let pc = opts.entry ?? 0;
  let count = 0;
  let tailCalls = 0;
  const budget = opts.budget ?? 100_000_000;
  // bpf_loop and friends call back into the program: a nested run from the callback's slot.
  const outerInvoke = rt.invokeCallback;
  rt.invokeCallback = (entry, cbArgs) => run(p, rt, { ...opts, args: cbArgs, entry }, tailTarget).r0;
  const unwind = opts.unwindHelper5 ?? false;


  try {
    for (;;) {
      if (pc >= n || pc < 0) {
        throw new RuntimeError(pc >= n ? 'E_FELL_OFF' : 'E_BAD_JUMP', pc, pc >= n ? 'ran past the last instruction without exit' : `jump to ${pc}, before the program`);
      }
      if (++count > budget) throw new RuntimeError('E_BUDGET', pc, `instruction budget of ${budget} exhausted`);
      const d = D[pc];
      const s = S[pc];
      const imm = I[pc];
      switch (K[pc]) {
        // ---- ALU64, immediate ----
        case 1: /* 0x07 */ { const s0 = lo[d] + (imm >>> 0); const c = s0 >= TWO32 ? 1 : 0; lo[d] = s0; hi[d] = hi[d] + (imm >> 31) + c; break; }
        case 2: /* 0x17 */ { const d0 = lo[d] - (imm >>> 0); const b = d0 < 0 ? 1 : 0; lo[d] = d0; hi[d] = hi[d] - (imm >> 31) - b; break; }
        case 3: /* 0x27 */ mul64(lo, hi, d, imm >>> 0, imm >> 31 >>> 0); break;
        case 4: /* 0x37 */ div64(lo, hi, d, imm >>> 0, imm >> 31 >>> 0, O[pc] === 1, false); break;
        case 5: /* 0x47 */ lo[d] |= imm; hi[d] |= imm >> 31; break;
        case 6: /* 0x57 */ lo[d] &= imm; hi[d] &= imm >> 31; break;
        case 7: /* 0x67 */ shl64(lo, hi, d, imm & 63); break;
        case 8: /* 0x77 */ shr64(lo, hi, d, imm & 63); break;
        case 9: /* 0x87 */ neg64(lo, hi, d); break;
        case 10: /* 0x97 */ div64(lo, hi, d, imm >>> 0, imm >> 31 >>> 0, O[pc] === 1, true); break;
        case 11: /* 0xa7 */ lo[d] ^= imm; hi[d] ^= imm >> 31; break;
        case 12: /* 0xb7 */ lo[d] = imm; hi[d] = imm >> 31; break;
        case 13: /* 0xc7 */ sar64(lo, hi, d, imm & 63); break;
        // ---- ALU64, register ----
        case 14: /* 0x0f */ { const s0 = lo[d] + lo[s]; const c = s0 >= TWO32 ? 1 : 0; lo[d] = s0; hi[d] = hi[d] + hi[s] + c; break; }
        case 15: /* 0x1f */ { const d0 = lo[d] - lo[s]; const b = d0 < 0 ? 1 : 0; lo[d] = d0; hi[d] = hi[d] - hi[s] - b; break; }
        case 16: /* 0x2f */ mul64(lo, hi, d, lo[s], hi[s]); break;
        case 17: /* 0x3f */ div64(lo, hi, d, lo[s], hi[s], O[pc] === 1, false); break;
        case 18: /* 0x4f */ lo[d] |= lo[s]; hi[d] |= hi[s]; break;
        case 19: /* 0x5f */ lo[d] &= lo[s]; hi[d] &= hi[s]; break;
        case 20: /* 0x6f */ shl64(lo, hi, d, lo[s] & 63); break;
        case 21: /* 0x7f */ shr64(lo, hi, d, lo[s] & 63); break;
        case 22: /* 0x9f */ div64(lo, hi, d, lo[s], hi[s], O[pc] === 1, true); break;
        case 23: /* 0xaf */ lo[d] ^= lo[s]; hi[d] ^= hi[s]; break;
        case 24: /* 0xbf */ {
          const o = O[pc];
          if (o === 0) { lo[d] = lo[s]; hi[d] = hi[s]; }
          else if (o === 8) { const v = (lo[s] << 24) >> 24; lo[d] = v; hi[d] = v >> 31; }
          else if (o === 16) { const v = (lo[s] << 16) >> 16; lo[d] = v; hi[d] = v >> 31; }
          else if (o === 32) { const v = lo[s] | 0; lo[d] = v; hi[d] = v >> 31; }
          else { lo[d] = lo[s]; hi[d] = hi[s]; } // addr_space_cast: one address space here
          break;
        }
        case 25: /* 0xcf */ sar64(lo, hi, d, lo[s] & 63); break;
        case 26: /* 0xd7 */ { // bswap16/32/64
          if (imm === 16) { const v = lo[d]; lo[d] = ((v & 0xff) << 8) | ((v >>> 8) & 0xff); hi[d] = 0; }
          else if (imm === 32) { lo[d] = bswap32(lo[d]); hi[d] = 0; }
          else { const l = lo[d]; lo[d] = bswap32(hi[d]); hi[d] = bswap32(l); }
          break;
        }
        // ---- ALU32 (results zero-extended) ----
        case 27: /* 0x04 */ lo[d] = (lo[d] + imm) | 0; hi[d] = 0; break;
        case 28: /* 0x0c */ lo[d] = (lo[d] + lo[s]) | 0; hi[d] = 0; break;
        case 29: /* 0x14 */ lo[d] = (lo[d] - imm) | 0; hi[d] = 0; break;
        case 30: /* 0x1c */ lo[d] = (lo[d] - lo[s]) | 0; hi[d] = 0; break;
        case 31: /* 0x24 */ lo[d] = Math.imul(lo[d], imm); hi[d] = 0; break;
        case 32: /* 0x2c */ lo[d] = Math.imul(lo[d], lo[s]); hi[d] = 0; break;
        case 33: /* 0x34 */ div32(lo, hi, d, imm >>> 0, O[pc] === 1, false); break;
        case 34: /* 0x3c */ div32(lo, hi, d, lo[s], O[pc] === 1, false); break;
        case 35: /* 0x44 */ lo[d] |= imm; hi[d] = 0; break;
        case 36: /* 0x4c */ lo[d] |= lo[s]; hi[d] = 0; break;
        case 37: /* 0x54 */ lo[d] &= imm; hi[d] = 0; break;
        case 38: /* 0x5c */ lo[d] &= lo[s]; hi[d] = 0; break;
        case 39: /* 0x64 */ lo[d] = lo[d] << (imm & 31); hi[d] = 0; break;
        case 40: /* 0x6c */ lo[d] = lo[d] << (lo[s] & 31); hi[d] = 0; break;
        case 41: /* 0x74 */ lo[d] = lo[d] >>> (imm & 31); hi[d] = 0; break;
        case 42: /* 0x7c */ lo[d] = lo[d] >>> (lo[s] & 31); hi[d] = 0; break;
        case 43: /* 0x84 */ lo[d] = -lo[d] | 0; hi[d] = 0; break;
        case 44: /* 0x94 */ div32(lo, hi, d, imm >>> 0, O[pc] === 1, true); break;
        case 45: /* 0x9c */ div32(lo, hi, d, lo[s], O[pc] === 1, true); break;
        case 46: /* 0xa4 */ lo[d] ^= imm; hi[d] = 0; break;
        case 47: /* 0xac */ lo[d] ^= lo[s]; hi[d] = 0; break;
        case 48: /* 0xb4 */ lo[d] = imm; hi[d] = 0; break;
        case 49: /* 0xbc */ {
          const o = O[pc];
          lo[d] = o === 8 ? (lo[s] << 24) >> 24 : o === 16 ? (lo[s] << 16) >> 16 : lo[s];
          hi[d] = 0;
          break;
        }
        case 50: /* 0xc4 */ lo[d] = (lo[d] | 0) >> (imm & 31); hi[d] = 0; break;
        case 51: /* 0xcc */ lo[d] = (lo[d] | 0) >> (lo[s] & 31); hi[d] = 0; break;
        case 52: /* 0xd4 */ // le: truncate on a little-endian machine
          if (imm === 16) lo[d] &= 0xffff;
          if (imm !== 64) hi[d] = 0;
          break;
        case 53: /* 0xdc */ // be: swap
          if (imm === 16) { const v = lo[d]; lo[d] = ((v & 0xff) << 8) | ((v >>> 8) & 0xff); hi[d] = 0; }
          else if (imm === 32) { lo[d] = bswap32(lo[d]); hi[d] = 0; }
          else { const l = lo[d]; lo[d] = bswap32(hi[d]); hi[d] = bswap32(l); }
          break;
        // ---- lddw ----
        case 54: /* 0x18 */ lo[d] = imm; hi[d] = I2[pc]; pc++; break;
        // ---- loads ----
        case 55: /* 0x61 */ lo[d] = mem.getUint32(chk(lo, hi, s, O[pc], 4, false, memSize, strict, space, pc), true); hi[d] = 0; break;
        case 56: /* 0x69 */ lo[d] = mem.getUint16(chk(lo, hi, s, O[pc], 2, false, memSize, strict, space, pc), true); hi[d] = 0; break;
        case 57: /* 0x71 */ lo[d] = mem.getUint8(chk(lo, hi, s, O[pc], 1, false, memSize, strict, space, pc)); hi[d] = 0; break;
        case 58: /* 0x79 */ { const a = chk(lo, hi, s, O[pc], 8, false, memSize, strict, space, pc); lo[d] = mem.getUint32(a, true); hi[d] = mem.getUint32(a + 4, true); break; }
        case 59: /* 0x81 */ { const v = mem.getInt32(chk(lo, hi, s, O[pc], 4, false, memSize, strict, space, pc), true); lo[d] = v; hi[d] = v >> 31; break; }
        case 60: /* 0x89 */ { const v = mem.getInt16(chk(lo, hi, s, O[pc], 2, false, memSize, strict, space, pc), true); lo[d] = v; hi[d] = v >> 31; break; }
        case 61: /* 0x91 */ { const v = mem.getInt8(chk(lo, hi, s, O[pc], 1, false, memSize, strict, space, pc)); lo[d] = v; hi[d] = v >> 31; break; }
        // ---- stores ----
        case 62: /* 0x62 */ mem.setUint32(chk(lo, hi, d, O[pc], 4, true, memSize, strict, space, pc), imm, true); break;
        case 63: /* 0x6a */ mem.setUint16(chk(lo, hi, d, O[pc], 2, true, memSize, strict, space, pc), imm, true); break;
        case 64: /* 0x72 */ mem.setUint8(chk(lo, hi, d, O[pc], 1, true, memSize, strict, space, pc), imm); break;
        case 65: /* 0x7a */ { const a = chk(lo, hi, d, O[pc], 8, true, memSize, strict, space, pc); mem.setInt32(a, imm, true); mem.setInt32(a + 4, imm >> 31, true); break; }
        case 66: /* 0x63 */ mem.setUint32(chk(lo, hi, d, O[pc], 4, true, memSize, strict, space, pc), lo[s], true); break;
        case 67: /* 0x6b */ mem.setUint16(chk(lo, hi, d, O[pc], 2, true, memSize, strict, space, pc), lo[s], true); break;
        case 68: /* 0x73 */ mem.setUint8(chk(lo, hi, d, O[pc], 1, true, memSize, strict, space, pc), lo[s]); break;
        case 69: /* 0x7b */ { const a = chk(lo, hi, d, O[pc], 8, true, memSize, strict, space, pc); mem.setUint32(a, lo[s], true); mem.setUint32(a + 4, hi[s], true); break; }
        // ---- atomics ----
        case 70: /* 0xc3 */ atomic32(mem, lo, hi, d, s, O[pc], imm, memSize, strict, space, pc); break;
        case 71: /* 0xdb */ atomic64(mem, lo, hi, d, s, O[pc], imm, memSize, strict, space, pc); break;
        // ---- jumps ----
        case 72: /* 0x05 */ pc += O[pc]; break;
        case 73: /* 0x06 */ pc += imm; break;
        case 74: /* 0xe5 */ break; // may_goto: the interpreter's budget bounds loops, so it never jumps
        case 75: /* 0x15 */ if (lo[d] === (imm >>> 0) && hi[d] === (imm >> 31 >>> 0)) pc += O[pc]; break;
        case 76: /* 0x1d */ if (lo[d] === lo[s] && hi[d] === hi[s]) pc += O[pc]; break;
        case 77: /* 0x55 */ if (lo[d] !== (imm >>> 0) || hi[d] !== (imm >> 31 >>> 0)) pc += O[pc]; break;
        case 78: /* 0x5d */ if (lo[d] !== lo[s] || hi[d] !== hi[s]) pc += O[pc]; break;
        case 79: /* 0x25 */ if (ucmp(lo[d], hi[d], imm >>> 0, imm >> 31 >>> 0) > 0) pc += O[pc]; break;
        case 80: /* 0x2d */ if (ucmp(lo[d], hi[d], lo[s], hi[s]) > 0) pc += O[pc]; break;
        case 81: /* 0x35 */ if (ucmp(lo[d], hi[d], imm >>> 0, imm >> 31 >>> 0) >= 0) pc += O[pc]; break;
        case 82: /* 0x3d */ if (ucmp(lo[d], hi[d], lo[s], hi[s]) >= 0) pc += O[pc]; break;
        case 83: /* 0xa5 */ if (ucmp(lo[d], hi[d], imm >>> 0, imm >> 31 >>> 0) < 0) pc += O[pc]; break;
        case 84: /* 0xad */ if (ucmp(lo[d], hi[d], lo[s], hi[s]) < 0) pc += O[pc]; break;
        case 85: /* 0xb5 */ if (ucmp(lo[d], hi[d], imm >>> 0, imm >> 31 >>> 0) <= 0) pc += O[pc]; break;
        case 86: /* 0xbd */ if (ucmp(lo[d], hi[d], lo[s], hi[s]) <= 0) pc += O[pc]; break;
        case 87: /* 0x65 */ if (scmp(lo[d], hi[d], imm >>> 0, imm >> 31) > 0) pc += O[pc]; break;
        case 88: /* 0x6d */ if (scmp(lo[d], hi[d], lo[s], hi[s] | 0) > 0) pc += O[pc]; break;
        case 89: /* 0x75 */ if (scmp(lo[d], hi[d], imm >>> 0, imm >> 31) >= 0) pc += O[pc]; break;
        case 90: /* 0x7d */ if (scmp(lo[d], hi[d], lo[s], hi[s] | 0) >= 0) pc += O[pc]; break;
        case 91: /* 0xc5 */ if (scmp(lo[d], hi[d], imm >>> 0, imm >> 31) < 0) pc += O[pc]; break;
        case 92: /* 0xcd */ if (scmp(lo[d], hi[d], lo[s], hi[s] | 0) < 0) pc += O[pc]; break;
        case 93: /* 0xd5 */ if (scmp(lo[d], hi[d], imm >>> 0, imm >> 31) <= 0) pc += O[pc]; break;
        case 94: /* 0xdd */ if (scmp(lo[d], hi[d], lo[s], hi[s] | 0) <= 0) pc += O[pc]; break;
        case 95: /* 0x45 */ if ((lo[d] & imm) !== 0 || (hi[d] & (imm >> 31)) !== 0) pc += O[pc]; break;
        case 96: /* 0x4d */ if ((lo[d] & lo[s]) !== 0 || (hi[d] & hi[s]) !== 0) pc += O[pc]; break;
        // JMP32
        case 97: /* 0x16 */ if (lo[d] === (imm >>> 0)) pc += O[pc]; break;
        case 98: /* 0x1e */ if (lo[d] === lo[s]) pc += O[pc]; break;
        case 99: /* 0x56 */ if (lo[d] !== (imm >>> 0)) pc += O[pc]; break;
        case 100: /* 0x5e */ if (lo[d] !== lo[s]) pc += O[pc]; break;
        case 101: /* 0x26 */ if (lo[d] > (imm >>> 0)) pc += O[pc]; break;
        case 102: /* 0x2e */ if (lo[d] > lo[s]) pc += O[pc]; break;
        case 103: /* 0x36 */ if (lo[d] >= (imm >>> 0)) pc += O[pc]; break;
        case 104: /* 0x3e */ if (lo[d] >= lo[s]) pc += O[pc]; break;
        case 105: /* 0xa6 */ if (lo[d] < (imm >>> 0)) pc += O[pc]; break;
        case 106: /* 0xae */ if (lo[d] < lo[s]) pc += O[pc]; break;
        case 107: /* 0xb6 */ if (lo[d] <= (imm >>> 0)) pc += O[pc]; break;
        case 108: /* 0xbe */ if (lo[d] <= lo[s]) pc += O[pc]; break;
        case 109: /* 0x66 */ if ((lo[d] | 0) > imm) pc += O[pc]; break;
        case 110: /* 0x6e */ if ((lo[d] | 0) > (lo[s] | 0)) pc += O[pc]; break;
        case 111: /* 0x76 */ if ((lo[d] | 0) >= imm) pc += O[pc]; break;
        case 112: /* 0x7e */ if ((lo[d] | 0) >= (lo[s] | 0)) pc += O[pc]; break;
        case 113: /* 0xc6 */ if ((lo[d] | 0) < imm) pc += O[pc]; break;
        case 114: /* 0xce */ if ((lo[d] | 0) < (lo[s] | 0)) pc += O[pc]; break;
        case 115: /* 0xd6 */ if ((lo[d] | 0) <= imm) pc += O[pc]; break;
        case 116: /* 0xde */ if ((lo[d] | 0) <= (lo[s] | 0)) pc += O[pc]; break;
        case 117: /* 0x46 */ if ((lo[d] & imm) !== 0) pc += O[pc]; break;
        case 118: /* 0x4e */ if ((lo[d] & lo[s]) !== 0) pc += O[pc]; break;
        // ---- calls ----
        case 119: /* 0x85 */
          if (s === 1) {
            if (frame + 1 >= MAX_CALL_FRAMES) throw new RuntimeError('E_CALL_DEPTH', pc, `call depth exceeds ${MAX_CALL_FRAMES} frames`);
            retPc[frame] = pc;
            for (let r = 6; r <= 9; r++) { saved[frame * 8 + (r - 6) * 2] = lo[r]; saved[frame * 8 + (r - 6) * 2 + 1] = hi[r]; }
            frame++;
            lo[10] = frames[frame] + STACK;
            hi[10] = 0;
            pc += imm;
            break;
          }
          if (s !== 0) throw new RuntimeError('E_UNKNOWN_HELPER', pc, `kfunc calls (BTF id ${imm}) need the kernel`);
          if (callHelper(rt, imm, lo, hi, helperRegs, unwind, pc)) return { lo: lo[0], hi: hi[0], r0: toBig(lo[0], hi[0]), insns: count };
          if (space.view !== mem) { mem = space.view; memSize = space.size; }
          if (rt.pendingTailCall) {
            const t = rt.pendingTailCall;
            rt.pendingTailCall = undefined;
            // The kernel's limit: past 33 tail calls, the call falls through.
            const target = tailCalls < MAX_TAIL_CALLS ? tailTarget?.(rt.tailCallTarget(t.mapFd, t.index)) : undefined;
            if (target) tailCalls++;
            if (target) { p = target; ({ op, dst: D, src: S, off: O, imm: I, imm2: I2, kind: K } = p); n = p.n; pc = 0; continue; }
          }
          break;
        case 120: /* 0x8d */ // callx: the helper whose id is in the register (bpf_conformance / uBPF semantics)
          if (callHelper(rt, lo[d], lo, hi, helperRegs, unwind, pc)) return { lo: lo[0], hi: hi[0], r0: toBig(lo[0], hi[0]), insns: count };
          if (space.view !== mem) { mem = space.view; memSize = space.size; }
          break;
        case 121: /* 0x95 */
          if (frame === 0) return { lo: lo[0], hi: hi[0], r0: toBig(lo[0], hi[0]), insns: count };
          frame--;
          for (let r = 6; r <= 9; r++) { lo[r] = saved[frame * 8 + (r - 6) * 2]; hi[r] = saved[frame * 8 + (r - 6) * 2 + 1]; }
          lo[10] = frames[frame] + STACK;
          hi[10] = 0;
          pc = retPc[frame];
          break;
        // ---- legacy packet loads: r0 = ntoh(*(size *)(packet + [src] + imm)) ----
        case 122: /* 0x20 */ case 123: /* 0x28 */ case 124: /* 0x30 */ case 125: /* 0x40 */ case 126: /* 0x48 */ case 127: /* 0x50 */ {
          const code = op[pc];
          const size = (code & 0x18) === 0x10 ? 1 : (code & 0x18) === 0x08 ? 2 : 4;
          const pkt = rt.packet;
          const { data, end } = pkt ? packetPointers(space, pkt) : { data: 0, end: 0 };
          const at = ((code & 0xe0) === 0x40 ? lo[s] : 0) + imm;
          if (!pkt || at < 0 || data + at + size > end) return { lo: 0, hi: 0, r0: 0n, insns: count }; // the kernel ends the program with r0 = 0
          const a = data + at;
          lo[0] = size === 1 ? mem.getUint8(a) : size === 2 ? mem.getUint16(a, false) : mem.getUint32(a, false);
          hi[0] = 0;
          break;
        }
        default:
          throw new RuntimeError('E_UNKNOWN_OPCODE', pc, `unknown or invalid instruction (opcode 0x${op[pc].toString(16).padStart(2, '0')})`);
      }
      pc++;
    }
  } finally {
    rt.invokeCallback = outerInvoke;
    if (strict) for (const f of frames) space.free(f);
    else space.free(frames[0]);
  }
}

/** Address of a memory access (register + offset), checked against the address space. */
function chk(lo: Uint32Array, hi: Uint32Array, r: number, off: number, size: number, write: boolean, memSize: number, strict: boolean, space: { check(a: number, n: number): boolean }, pc: number): number {
  const a = lo[r] + off;
  if (hi[r] !== 0 || a < 4096 || a + size > memSize || (strict && !space.check(a, size))) {
    const at = hi[r] !== 0 ? toBigNumber(lo[r], hi[r]) + off : a;
    throw new RuntimeError('E_MEM_FAULT', pc, `invalid ${write ? 'write' : 'read'} of ${size} bytes at 0x${at.toString(16)}${at < 4096 ? ' (NULL page)' : ''}`);
  }
  return a;
}

function mul64(lo: Uint32Array, hi: Uint32Array, d: number, bl: number, bh: number): void {
  const al = lo[d], ah = hi[d];
  const l = Math.imul(al, bl) >>> 0;
  const h = (mulhi(al, bl) + Math.imul(al, bh) + Math.imul(ah, bl)) >>> 0;
  lo[d] = l;
  hi[d] = h;
}
function div64(lo: Uint32Array, hi: Uint32Array, d: number, bl: number, bh: number, signed: boolean, mod: boolean): void {
  if (bl === 0 && bh === 0) {
    if (!mod) { lo[d] = 0; hi[d] = 0; } // x / 0 = 0; x % 0 = x
    return;
  }
  const a = toBig(lo[d], hi[d]);
  const b = toBig(bl, bh);
  let r: bigint;
  if (signed) {
    const sa = BigInt.asIntN(64, a);
    const sb = BigInt.asIntN(64, b);
    r = mod ? sa % sb : sb === -1n ? -sa : sa / sb; // LLONG_MIN / -1 wraps to LLONG_MIN
  } else r = mod ? a % b : a / b;
  const u = BigInt.asUintN(64, r);
  lo[d] = Number(u & 0xffffffffn);
  hi[d] = Number(u >> 32n);
}
function div32(lo: Uint32Array, hi: Uint32Array, d: number, b: number, signed: boolean, mod: boolean): void {
  const a = lo[d];
  if (b === 0) {
    if (!mod) lo[d] = 0;
    hi[d] = 0;
    return;
  }
  if (signed) {
    const sa = a | 0, sb = b | 0;
    lo[d] = mod ? sa % sb : sb === -1 ? -sa | 0 : (sa / sb) | 0;
  } else lo[d] = mod ? a % b : Math.floor(a / b);
  hi[d] = 0;
}
function shl64(lo: Uint32Array, hi: Uint32Array, d: number, k: number): void {
  if (k === 0) return;
  if (k >= 32) { hi[d] = lo[d] << (k - 32); lo[d] = 0; }
  else { hi[d] = (hi[d] << k) | (lo[d] >>> (32 - k)); lo[d] = lo[d] << k; }
}
function shr64(lo: Uint32Array, hi: Uint32Array, d: number, k: number): void {
  if (k === 0) return;
  if (k >= 32) { lo[d] = hi[d] >>> (k - 32); hi[d] = 0; }
  else { lo[d] = (lo[d] >>> k) | (hi[d] << (32 - k)); hi[d] = hi[d] >>> k; }
}
function sar64(lo: Uint32Array, hi: Uint32Array, d: number, k: number): void {
  if (k === 0) return;
  const h = hi[d] | 0;
  if (k >= 32) { lo[d] = h >> (k - 32); hi[d] = h >> 31; }
  else { lo[d] = (lo[d] >>> k) | (h << (32 - k)); hi[d] = h >> k; }
}
function neg64(lo: Uint32Array, hi: Uint32Array, d: number): void {
  const l = (~lo[d] + 1) >>> 0;
  hi[d] = (~hi[d] + (l === 0 ? 1 : 0)) >>> 0;
  lo[d] = l;
}

function atomic32(mem: DataView, lo: Uint32Array, hi: Uint32Array, d: number, s: number, off: number, op: number, memSize: number, strict: boolean, space: { check(a: number, n: number): boolean }, pc: number): void {
  const a = chk(lo, hi, d, off, 4, true, memSize, strict, space, pc);
  const old = mem.getUint32(a, true);
  let v = old;
  switch (op & ~1) {
    case 0x00: v = (old + lo[s]) >>> 0; break;
    case 0x40: v = (old | lo[s]) >>> 0; break;
    case 0x50: v = (old & lo[s]) >>> 0; break;
    case 0xa0: v = (old ^ lo[s]) >>> 0; break;
    case 0xe0: v = lo[s]; break;
    case 0xf0: v = old === lo[0] ? lo[s] : old; break;
  }
  mem.setUint32(a, v, true);
  if (op === 0xf1) { lo[0] = old; hi[0] = 0; }
  else if (op & 1) { lo[s] = old; hi[s] = 0; }
}
function atomic64(mem: DataView, lo: Uint32Array, hi: Uint32Array, d: number, s: number, off: number, op: number, memSize: number, strict: boolean, space: { check(a: number, n: number): boolean }, pc: number): void {
  const a = chk(lo, hi, d, off, 8, true, memSize, strict, space, pc);
  const ol = mem.getUint32(a, true), oh = mem.getUint32(a + 4, true);
  let vl = ol, vh = oh;
  switch (op & ~1) {
    case 0x00: { const s0 = ol + lo[s]; vl = s0 >>> 0; vh = (oh + hi[s] + (s0 >= TWO32 ? 1 : 0)) >>> 0; break; }
    case 0x40: vl = (ol | lo[s]) >>> 0; vh = (oh | hi[s]) >>> 0; break;
    case 0x50: vl = (ol & lo[s]) >>> 0; vh = (oh & hi[s]) >>> 0; break;
    case 0xa0: vl = (ol ^ lo[s]) >>> 0; vh = (oh ^ hi[s]) >>> 0; break;
    case 0xe0: vl = lo[s]; vh = hi[s]; break;
    case 0xf0: if (ol === lo[0] && oh === hi[0]) { vl = lo[s]; vh = hi[s]; } break;
  }
  mem.setUint32(a, vl, true);
  mem.setUint32(a + 4, vh, true);
  if (op === 0xf1) { lo[0] = ol; hi[0] = oh; }
  else if (op & 1) { lo[s] = ol; hi[s] = oh; }
}

function callHelper(rt: Runtime, id: number, lo: Uint32Array, hi: Uint32Array, helperRegs: Uint32Array, unwind: boolean, pc: number): boolean {
  if (unwind && id === 5) {
    lo[0] = lo[1];
    hi[0] = hi[1];
    return lo[1] === 0 && hi[1] === 0;
  }
  const impl = rt.helper(id);
  if (!impl) throw new RuntimeError('E_UNKNOWN_HELPER', pc, `helper ${helperName(id) ?? `#${id}`} is not available in the user-space runtime`);
  for (let r = 0; r <= 5; r++) { helperRegs[2 * r] = lo[r]; helperRegs[2 * r + 1] = hi[r]; }
  if (rt.space.strict) {
    const fault = rt.helperArgFault(id, helperRegs);
    if (fault) throw new RuntimeError('E_MEM_FAULT', pc, `helper ${helperName(id) ?? `#${id}`}: ${fault}`);
  }
  impl(rt, helperRegs);
  lo[0] = helperRegs[0];
  hi[0] = helperRegs[1];
  return false;
}

function ucmp(al: number, ah: number, bl: number, bh: number): number {
  return ah !== bh ? (ah > bh ? 1 : -1) : al === bl ? 0 : al > bl ? 1 : -1;
}

function scmp(al: number, ah: number, bl: number, bh: number): number {
  const sa = ah | 0, sb = bh | 0;
  return sa !== sb ? (sa > sb ? 1 : -1) : al === bl ? 0 : al > bl ? 1 : -1;
}

function toBigNumber(lo: number, hi: number): number {
  return hi * TWO32 + lo;
}
