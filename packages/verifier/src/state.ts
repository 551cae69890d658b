/**
 * The abstract state the analysis carries along a path: registers, stack slots, frames of
 * bpf-to-bpf calls, acquired references. Registers are immutable values so that copying a state
 * (at every branch and checkpoint) copies arrays of references, not registers.
 */
import type { VerifierMap } from './types.js';
import { scalarConst, scalarConstParts, scalarString, scalarUnknown, scalarIsConst, scalarValue, type Scalar } from './scalar.js';

/** Register types (`enum bpf_reg_type`, the subset we track). */
export const enum RT {
  NOT_INIT,
  SCALAR,
  CTX,
  STACK,
  MAP_VALUE,
  MAP_KEY,
  MAP_PTR,
  PKT,
  PKT_META,
  PKT_END,
  MEM,
  RINGBUF_MEM,
  SOCK,
  SOCK_COMMON,
  TCP_SOCK,
  XDP_SOCK,
  BTF_ID,
  FUNC,
  FLOW_KEYS,
  BUF,
  TP_BUFFER,
}

/** The kernel's `reg_type_str` names. */
export const RT_NAMES: Record<RT, string> = [
  '?',
  'scalar',
  'ctx',
  'fp',
  'map_value',
  'map_key',
  'map_ptr',
  'pkt',
  'pkt_meta',
  'pkt_end',
  'mem',
  'ringbuf_mem',
  'sock',
  'sock_common',
  'tcp_sock',
  'xdp_sock',
  'ptr_',
  'func',
  'flow_keys',
  'buf',
  'tp_buffer',
] as unknown as Record<RT, string>;

export interface Reg {
  readonly t: RT;
  /** `PTR_MAYBE_NULL`. */
  readonly nul: boolean;
  /** Read-only memory (`MEM_RDONLY`). */
  readonly rdonly: boolean;
  /** Fixed offset of a pointer. */
  readonly off: number;
  /** A scalar's value, or a pointer's variable offset. */
  readonly s: Scalar;
  /** Identity: linked scalars, maybe-null pointers, packet pointers sharing a range. */
  readonly id: number;
  /** The reference this pointer holds (`ref_obj_id`), 0 for none. */
  readonly ref: number;
  readonly map?: VerifierMap;
  /** Packet pointers: bytes known to be inside the packet. Memory: its size. */
  readonly range: number;
  /** Stack pointers: the frame they point into. Functions: the subprogram's first slot. */
  readonly frame: number;
  /** BTF-typed pointers: the struct name, when known. */
  readonly btf?: string;
}

const UNKNOWN = scalarUnknown();
export const NOT_INIT_REG: Reg = { t: RT.NOT_INIT, nul: false, rdonly: false, off: 0, s: UNKNOWN, id: 0, ref: 0, range: 0, frame: 0 };
export const UNKNOWN_REG: Reg = { t: RT.SCALAR, nul: false, rdonly: false, off: 0, s: UNKNOWN, id: 0, ref: 0, range: 0, frame: 0 };
const ZERO = scalarConst(0n);

export function scalarReg(s: Scalar, id = 0): Reg {
  if (id === 0 && s === UNKNOWN) return UNKNOWN_REG;
  return { t: RT.SCALAR, nul: false, rdonly: false, off: 0, s, id, ref: 0, range: 0, frame: 0 };
}
export function constReg(v: bigint): Reg {
  return scalarReg(scalarConst(v));
}

const SMALL_REGS = new Array<Reg | undefined>(1024);
/**
 * The constant an instruction's immediate makes: sign-extended to 64 bits (`is64`) or
 * zero-extended from 32. Registers are never changed in place, so small ones are shared.
 */
export function immReg(imm: number, is64: boolean): Reg {
  const lo = imm >>> 0;
  if (lo < 1024) return (SMALL_REGS[lo] ??= scalarReg(scalarConstParts(0, lo)));
  return scalarReg(scalarConstParts(is64 && imm < 0 ? -1 : 0, lo));
}
export function ptrReg(t: RT, fields: Partial<Reg> = {}): Reg {
  return { t, nul: false, rdonly: false, off: 0, s: ZERO, id: 0, ref: 0, range: 0, frame: 0, ...fields };
}

/** Stack byte kinds (`STACK_*`). */
export const enum SB {
  INVALID = 0,
  SPILL = 1,
  MISC = 2,
  ZERO = 3,
}

export const STACK = 512;

export interface Frame {
  regs: Reg[];
  /** Byte kinds of fp-512 .. fp-1 (index = 512 + off). */
  stype: Uint8Array;
  /** Spilled registers per 8-byte slot (index = (512 + off) >> 3). */
  spill: (Reg | undefined)[];
  /** `stype` and `spill` are shared with another frame: copy them before writing ({@link ownStack}). */
  shared?: boolean;
  /** Deepest stack byte touched (positive number of bytes). */
  depth: number;
  /** The call instruction that created this frame (-1 for the main program). */
  callsite: number;
  /** First slot of this frame's subprogram. */
  subprog: number;
  /** Callback frames: what r0 must be at exit, and the helper's return for the caller. */
  callback?: { min: bigint; max: bigint; name: string; args: Reg[] };
  /** In a callback frame: the slot execution continues at after the callback returns. */
  frameno: number;
}

export interface RefState {
  id: number;
  insn: number;
}

export interface State {
  frames: Frame[];
  refs: RefState[];
  /** Active bpf_spin_lock: the map value pointer's identity. */
  lock: { id: number; map?: VerifierMap; off: number } | undefined;
  /** Checkpoint this path descends from, and live paths below a stored checkpoint. */
  parent: State | undefined;
  branches: number;
  insn: number;
  /** Inside an rcu/preempt region (kfuncs), unused for now. */
  speculative: boolean;
  /** Of a checkpoint: registers a later decided branch depended on, a bit mask per frame. */
  precise?: number[];
  /** may_goto fall-throughs taken on this path (the kernel's may_goto_depth). */
  mayGotoDepth?: number;
  /** Pruning statistics of a stored checkpoint (the kernel's hit_cnt / miss_cnt). */
  hits?: number;
  misses?: number;
  /** Fingerprint of a stored checkpoint (see Engine.fingerprint). */
  fp?: number;
}

export function newFrame(callsite: number, subprog: number, frameno: number): Frame {
  const regs = new Array<Reg>(11).fill(NOT_INIT_REG);
  regs[10] = ptrReg(RT.STACK, { frame: frameno });
  return { regs, stype: new Uint8Array(STACK), spill: new Array(STACK / 8).fill(undefined), depth: 0, callsite, subprog, frameno };
}

/** A copy of a frame; the stack is shared copy-on-write (see {@link ownStack}). */
export function copyFrame(f: Frame): Frame {
  f.shared = true;
  return { regs: f.regs.slice(), stype: f.stype, spill: f.spill, shared: true, depth: f.depth, callsite: f.callsite, subprog: f.subprog, callback: f.callback, frameno: f.frameno };
}

/** Makes a frame's stack its own before a write. */
export function ownStack(f: Frame): Frame {
  if (f.shared) {
    f.stype = f.stype.slice();
    f.spill = f.spill.slice();
    f.shared = false;
  }
  return f;
}

export function copyState(s: State): State {
  return {
    frames: s.frames.map(copyFrame),
    refs: s.refs.slice(),
    lock: s.lock,
    parent: s.parent,
    branches: 1,
    insn: s.insn,
    speculative: s.speculative,
    mayGotoDepth: s.mayGotoDepth,
  };
}

/** The kernel's `reg_type_str`: `map_value_or_null`, `ringbuf_mem`, `rdonly_mem`, ... */
export function regTypeStr(r: Reg): string {
  let name = RT_NAMES[r.t];
  if (r.t === RT.MEM && r.rdonly) name = 'rdonly_mem';
  if (r.t === RT.BTF_ID && r.btf) name = 'ptr_';
  return r.nul ? name + '_or_null' : name;
}

function hex(n: number | bigint): string {
  return '0x' + BigInt.asUintN(64, BigInt(n)).toString(16);
}

/** One register as the kernel's `print_verifier_state` prints it (6.x format). */
export function regString(r: Reg): string {
  if (r.t === RT.NOT_INIT) return '?';
  if (r.t === RT.SCALAR) {
    if (scalarIsConst(r.s)) {
      const v = BigInt.asIntN(64, scalarValue(r.s));
      return r.id ? `scalar(id=${r.id},${v})` : String(v);
    }
    const body = scalarString(r.s);
    return r.id ? body.replace('scalar(', `scalar(id=${r.id}${body === 'scalar()' ? '' : ','}`) : body;
  }
  if (r.t === RT.STACK && r.off === 0 && scalarIsConst(r.s)) return `fp${r.off}`;
  if (r.t === RT.STACK && scalarIsConst(r.s)) return `fp${r.off}`;
  const parts: string[] = [];
  if (r.id) parts.push(`id=${r.id}`);
  if (r.ref) parts.push(`ref_obj_id=${r.ref}`);
  if (r.map) parts.push(`map=${r.map.name ?? ''}`, `ks=${r.map.keySize}`, `vs=${r.map.valueSize}`);
  if (r.off) parts.push(`off=${r.off}`);
  if (r.t === RT.PKT || r.t === RT.PKT_META) parts.push(`r=${r.range < 0 ? hex(r.range) : r.range}`);
  if (r.t === RT.MEM || r.t === RT.RINGBUF_MEM) parts.push(`sz=${r.range}`);
  if (!scalarIsConst(r.s)) {
    const inner = scalarString(r.s);
    if (inner.startsWith('scalar(') && inner.length > 8) parts.push(inner.slice(7, -1));
  }
  return `${regTypeStr(r)}(${parts.join(',')})`;
}

/** The registers of a frame, e.g. `R1=ctx() R10=fp0`. */
export function frameString(f: Frame, only?: number[]): string {
  const out: string[] = [];
  for (let i = 0; i < 11; i++) {
    if (only && !only.includes(i)) continue;
    const r = f.regs[i]!;
    if (r.t === RT.NOT_INIT) continue;
    out.push(`R${i}=${i === 10 ? 'fp0' : regString(r)}`);
  }
  for (let slot = STACK / 8 - 1; slot >= 0; slot--) {
    const base = slot * 8;
    const off = base - STACK;
    const sp = f.spill[slot];
    if (sp) out.push(`fp${off}=${regString(sp)}`);
    else {
      let any = false;
      let txt = '';
      for (let b = 7; b >= 0; b--) {
        const k = f.stype[base + b]!;
        if (k !== SB.INVALID) any = true;
        txt += k === SB.MISC ? 'm' : k === SB.ZERO ? '0' : k === SB.SPILL ? 'r' : '?';
      }
      if (any) out.push(`fp${off}=${txt}`);
    }
  }
  return out.join(' ');
}
