import { progTypeFromName, progTypeName, attachTypeFromName, attachTypeName, mapTypeName, MapType, type Insn } from '@tsbpf/core';
import { Code, checkCode, subprogStarts } from './structure.js';
import { Engine, Reject, EINVAL, EACCES, E2BIG } from './engine.js';
import type { Slot } from './liveness.js';
import { checkLineInfo, lineInfoProblem } from './line-info.js';
import type { VerifierMap, VerifyOptions, VerifyResult, VerifyStats } from './types.js';

const EBADF = 9;

/** Opcodes the kernel's instruction table knows (bpf_opcode_in_insntable). */
const OPCODES: ReadonlySet<number> = (() => {
  const s = new Set<number>();
  for (const cls of [0x04, 0x07]) {
    for (const op of [0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x90, 0xa0, 0xb0, 0xc0]) {
      s.add(cls | op | 0x00);
      s.add(cls | op | 0x08);
    }
    s.add(cls | 0x80);
    s.add(cls | 0xd0);
    if (cls === 0x04) s.add(cls | 0xd8);
  }
  for (const cls of [0x05, 0x06]) {
    for (const op of [0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0xa0, 0xb0, 0xc0, 0xd0]) {
      s.add(cls | op);
      s.add(cls | op | 0x08);
    }
    s.add(cls | 0x00);
  }
  s.add(0x85);
  s.add(0x95);
  s.add(0xe5);
  for (const size of [0x00, 0x08, 0x10]) {
    s.add(0x00 | 0x20 | size);
    s.add(0x00 | 0x40 | size);
  }
  s.add(0x18);
  for (const size of [0x00, 0x08, 0x10, 0x18]) {
    s.add(0x01 | 0x60 | size);
    s.add(0x02 | 0x60 | size);
    s.add(0x03 | 0x60 | size);
  }
  for (const size of [0x00, 0x08, 0x10]) s.add(0x01 | 0x80 | size);
  for (const size of [0x00, 0x08, 0x10, 0x18]) s.add(0x03 | 0xc0 | size);
  return s;
})();
const OPCODE_OK = Uint8Array.from({ length: 256 }, (_, op) => (OPCODES.has(op) ? 1 : 0));

const isInt = (v: unknown, lo: number, hi: number): boolean => Number.isInteger(v) && (v as number) >= lo && (v as number) <= hi;

function insnShapeOk(i: Insn): boolean {
  if (typeof i !== 'object' || i === null) return false;
  if (!isInt(i.op, 0, 255) || !isInt(i.dst, 0, 15) || !isInt(i.src, 0, 15) || !isInt(i.off, -0x8000, 0x7fff) || !isInt(i.imm, -0x80000000, 0xffffffff)) return false;
  return i.wide === undefined || (typeof i.wide === 'object' && isInt(i.wide.imm, -0x80000000, 0xffffffff));
}

/** What is wrong with a map description, if anything (the kernel's map_create would refuse it). */
function mapProblem(m: VerifierMap): string | undefined {
  if (typeof m !== 'object' || m === null) return 'not a map description';
  if (!Number.isInteger(m.fd)) return `fd ${String(m.fd)} is not an integer`;
  if (!Number.isInteger(m.type) || mapTypeName(m.type) === undefined) return `unknown map type ${String(m.type)}`;
  for (const k of ['keySize', 'valueSize', 'maxEntries'] as const) {
    if (!isInt(m[k], 0, 0xffffffff)) return `${k} ${String(m[k])} is not a 32-bit unsigned integer`;
  }
  // hash, array, percpu and LRU variants, LPM trie: the sizes map_create insists on
  if ([1, 2, 5, 6, 9, 10, 11].includes(m.type) && (m.keySize === 0 || m.valueSize === 0 || m.maxEntries === 0)) {
    return `${mapTypeName(m.type)} needs non-zero keySize, valueSize and maxEntries`;
  }
  if ((m.type === 2 || m.type === 6) && m.keySize !== 4) return `${mapTypeName(m.type)} needs keySize 4 (got ${m.keySize})`;
  return undefined;
}

function resolveNumber(v: number | string | undefined, lookup: (n: string) => number | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v === 'number') return v;
  return lookup(v);
}

/**
 * Verifies a program as the kernel's BPF_PROG_LOAD would, returning the verdict, the log in the
 * kernel's format and statistics. Never throws for bad input: it becomes an `E_VERIFIER_INPUT`
 * error.
 *
 * @example
 * ```ts
 * verify(assembleLlvm('r0 = *(u32 *)(r1 + 0)\nexit').insns, { progType: 'xdp' }).ok; // true
 * ```
 */
export function verify(program: Uint8Array | readonly Insn[], options: VerifyOptions): VerifyResult {
  const t0 = performance.now();
  const stats: VerifyStats = { processed: 0, totalStates: 0, peakStates: 0, stackDepths: [], micros: 0 };
  const done = (r: Omit<VerifyResult, 'stats'>): VerifyResult => {
    stats.micros = Math.round((performance.now() - t0) * 1000);
    return { ...r, stats };
  };
  const inputError = (message: string, insn?: number): VerifyResult =>
    done({ ok: false, log: message + '\n', error: { code: 'E_VERIFIER_INPUT', message, errno: EINVAL, insn } });
  let code: Code;
  if (program instanceof Uint8Array) {
    if (program.length % 8 !== 0) return inputError(`program length ${program.length} is not a multiple of 8 bytes`);
    code = Code.fromBytes(program);
  } else if (Array.isArray(program)) {
    const bad = program.findIndex((i) => !insnShapeOk(i));
    if (bad >= 0) return inputError(`insn ${bad}: not an instruction (op 0..255, dst and src 0..15, off 16-bit, imm 32-bit)`, bad);
    code = Code.fromInsns(program);
  } else return inputError('the program must be a Uint8Array of 8-byte slots or an array of instructions');
  if (typeof options !== 'object' || options === null) return inputError('options must be an object with at least progType');
  const progType = resolveNumber(options.progType, progTypeFromName);
  if (progType === undefined || progTypeName(progType) === undefined) return inputError(`unknown program type ${String(options.progType)}`);
  const attachType = resolveNumber(options.expectedAttachType, attachTypeFromName);
  if (options.expectedAttachType !== undefined && (attachType === undefined || attachTypeName(attachType) === undefined)) {
    return inputError(`unknown attach type ${String(options.expectedAttachType)}`);
  }
  const logLevel = options.logLevel ?? 0;
  if (code.length === 0) return done({ ok: false, log: 'empty program\n', error: { code: 'E_VERIFIER_INPUT', message: 'empty program', errno: EINVAL } });
  const maps = new Map<number, VerifierMap>();
  if (options.maps !== undefined && !Array.isArray(options.maps)) return inputError('maps must be an array of map descriptions');
  for (const [i, m] of (options.maps ?? []).entries()) {
    const problem = mapProblem(m);
    if (problem) return inputError(`maps[${i}]: ${problem}`);
    maps.set(m.fd, m);
  }
  if (options.funcs !== undefined) {
    if (!Array.isArray(options.funcs)) return inputError('funcs must be an array of function descriptions');
    const bad = options.funcs.findIndex((f) => typeof f !== 'object' || f === null || !Number.isInteger(f.insn) || f.insn < 0 || (f.args !== undefined && !Array.isArray(f.args)));
    if (bad >= 0) return inputError(`funcs[${bad}]: needs a non-negative integer insn (and args as an array)`);
  }
  if (options.lineInfo !== undefined) {
    const problem = lineInfoProblem(options.lineInfo);
    if (problem) return inputError(problem);
  }

  const reject = (message: string, insn: number | undefined, errno: number, log: string[] = []): VerifyResult => {
    const lines = [...log];
    if (lines[lines.length - 1] !== message) lines.push(message);
    lines.push(statsLine(stats));
    return done({ ok: false, log: lines.join('\n') + '\n', error: { code: errno === E2BIG && message.startsWith('BPF program is too large') ? 'E_VERIFIER_TOO_COMPLEX' : 'E_VERIFIER_REJECT', insn, message, errno } });
  };

  // add_subprog_and_kfunc and check_subprogs come first, resolve_pseudo_ldimm64 and check_cfg after
  const subprogs = subprogStarts(code);
  const st = checkCode(code, subprogs);
  if (st && !st.message.startsWith('unreachable') && st.message !== 'invalid bpf_ld_imm64 insn') return reject(st.message, st.insn, EINVAL);
  // check_btf_info (check_btf_line) comes between check_subprogs and resolve_pseudo_ldimm64
  const badLine = options.lineInfo ? checkLineInfo(options.lineInfo, code, subprogs) : undefined;
  if (badLine) return reject(badLine.message, badLine.insn, EINVAL);
  const bad: Early | undefined = resolveLdImm64(code, maps, st) ?? (st && !st.message.startsWith('unreachable') ? st : undefined) ?? jumpIntoLdImm64(code, st) ?? st;
  if (bad) return reject(bad.message, bad.insn, bad.errno ?? EINVAL);

  // check_btf_func: LD_ABS / LD_IND may end the program, so only in functions returning int
  for (const fn of options.funcs ?? []) {
    if (!fn.returnsVoid || fn.insn === 0) continue;
    const si = subprogs.indexOf(fn.insn);
    if (si < 0) continue;
    const end = si + 1 < subprogs.length ? subprogs[si + 1]! : code.length;
    for (let pc = fn.insn; pc < end; pc++) {
      if (!code.tail[pc] && (code.op[pc]! & 7) === 0 && code.op[pc] !== 0x18) return reject("LD_ABS is only allowed in functions that return 'int'.", fn.insn, EINVAL);
    }
  }
  const engine = new Engine(code, {
    progType,
    attachType,
    maps,
    logLevel,
    strictAlignment: ((options.progFlags ?? 0) & 1) !== 0 && ((options.progFlags ?? 0) & 2) === 0,
    license: options.license ?? 'GPL',
    insnLimit: options.insnLimit ?? 1_000_000,
    recordStates: options.recordStates ?? false,
    subprogs,
    lineInfo: options.lineInfo,
    kfuncs: new Map((options.kfuncs ?? []).map((k) => [k.insn, k.name])),
    globals: new Map(
      (options.funcs ?? [])
        .filter((f) => f.global && f.insn !== 0 && subprogs.includes(f.insn))
        .map((f) => [f.insn, { index: subprogs.indexOf(f.insn), name: f.name ?? `func#${subprogs.indexOf(f.insn)}`, params: f.params ?? 5, args: f.args, argsError: f.argsError }]),
    ),
  });
  const finish = () => {
    stats.processed = engine.processed;
    stats.totalStates = engine.totalStates;
    stats.peakStates = engine.peakStates;
    stats.stackDepths = engine.stackDepth.slice();
  };
  try {
    engine.run();
  } catch (e) {
    finish();
    if (e instanceof Reject) return reject(e.message, e.insn, e.errno, engine.log);
    const message = `internal verifier error: ${e instanceof Error ? e.message : String(e)}`;
    return done({ ok: false, log: engine.log.concat(message).join('\n') + '\n', error: { code: 'E_VERIFIER_INPUT', message, errno: EINVAL } });
  }
  finish();
  // check_max_stack_depth: the deepest call chain's combined frames
  const combined = maxCombinedStack(code, subprogs, engine.stackDepth);
  if (combined) return reject(combined.message, undefined, EACCES, engine.log);
  const lines = logLevel >= 1 ? [...engine.log, statsLine(stats), `stack depth ${stats.stackDepths.join('+')}`] : [];
  const res: VerifyResult = done({ ok: true, log: lines.length ? lines.join('\n') + '\n' : '' });
  if (options.recordStates) res.states = engine.stateText;
  return res;
}

/** A rejection found before the analysis: the kernel's message, slot and errno (EINVAL unless said). */
type Early = { message: string; insn: number; errno?: number };

/** resolve_pseudo_ldimm64: opcode table, reserved fields, `lddw` pairs and their map operands. */
function resolveLdImm64(code: Code, maps: Map<number, VerifierMap>, st: Early | undefined): Early | undefined {
  const n = code.length;
  for (let pc = 0; pc < n; pc++) {
    if (code.tail[pc]) continue;
    const op = code.op[pc]!;
    if (!OPCODE_OK[op]) return { message: `unknown opcode ${op.toString(16).padStart(2, '0')}`, insn: pc };
    if ((op & 7) === 1 && code.imm[pc] !== 0) return { message: 'BPF_LDX uses reserved fields', insn: pc };
    if (op !== 0x18) continue;
    if (pc === n - 1 || !code.tail[pc + 1] || code.head2[pc] !== 0 || code.dst[pc]! > 10) {
      return st ?? { message: 'invalid bpf_ld_imm64 insn', insn: pc };
    }
    const src = code.src[pc]!;
    if (src === 0 || src === 3 || src === 4) continue;
    if (src !== 1 && src !== 2 && src !== 5 && src !== 6) return { message: 'unrecognized bpf_ld_imm64 insn', insn: pc };
    const m = maps.get(code.imm[pc]!);
    if (!m) return { message: `fd ${code.imm[pc]} is not pointing to valid bpf_map`, insn: pc, errno: EBADF };
    if (src === 1 || src === 5) {
      if (code.imm2[pc] !== 0) return { message: 'unrecognized bpf_ld_imm64 insn', insn: pc };
    } else {
      const directOk = m.type === MapType.Array || m.type === MapType.Arena;
      if (!directOk) return { message: 'no direct value access support for this map type', insn: pc };
      const off = code.imm2[pc]! >>> 0;
      if (off >= m.valueSize) return { message: `direct value offset of ${off} is not allowed`, insn: pc };
    }
  }
  return undefined;
}

/**
 * check_cfg: a jump may not land on the second slot of an lddw. The kernel walks slots in order:
 * an unreachable slot (`st`) before the lddw is reported first.
 */
function jumpIntoLdImm64(code: Code, st: Early | undefined): Early | undefined {
  const n = code.length;
  for (let pc = 0; pc < n; pc++) {
    if (code.tail[pc]) continue;
    const op = code.op[pc]!;
    const cls = op & 7;
    if (cls !== 5 && cls !== 6) continue;
    const code4 = op & 0xf0;
    if (code4 === 0x80 || code4 === 0x90) continue;
    const to = pc + 1 + (code4 === 0 && cls === 6 ? code.imm[pc]! : code.off[pc]!);
    if (to >= 0 && to < n && code.tail[to] && !(st && st.insn <= to - 1)) {
      return { message: `jump into the middle of ldimm64 insn ${to - 1}`, insn: pc };
    }
  }
  return undefined;
}

function statsLine(s: VerifyStats): string {
  return `processed ${s.processed} insns (limit 1000000) max_states_per_insn 0 total_states ${s.totalStates} peak_states ${s.peakStates} mark_read 0`;
}

/** Combined stack of the deepest bpf-to-bpf call chain (each frame rounded up to 32 bytes). */
function maxCombinedStack(code: Code, subprogs: number[], depths: number[]): { message: string } | undefined {
  const idx = (pc: number) => {
    let i = 0;
    while (i + 1 < subprogs.length && subprogs[i + 1]! <= pc) i++;
    return i;
  };
  const callees: number[][] = subprogs.map(() => []);
  for (let pc = 0; pc < code.length; pc++) {
    if (!code.tail[pc] && code.op[pc] === 0x85 && code.src[pc] === 1) callees[idx(pc)]!.push(subprogs.indexOf(pc + 1 + code.imm[pc]!));
  }
  const frame = (i: number) => Math.ceil(Math.max(depths[i] ?? 0, 1) / 32) * 32;
  // deepest chain below each subprogram (memoised; a cycle is recursion, which the kernel's
  // walk follows until it passes the frame limit)
  const memo = new Map<number, { total: number; frames: number; depth: number }>();
  const onPath = new Set<number>();
  let recursion = false;
  const below = (i: number): { total: number; frames: number; depth: number } => {
    const hit = memo.get(i);
    if (hit) return hit;
    onPath.add(i);
    let bestTotal = 0;
    let bestFrames = 0;
    let depth = 0;
    for (const c of callees[i]!) {
      if (c < 0) continue;
      if (onPath.has(c)) {
        recursion = true;
        continue;
      }
      const r = below(c);
      if (r.total > bestTotal) {
        bestTotal = r.total;
        bestFrames = r.frames;
      }
      depth = Math.max(depth, r.depth);
    }
    onPath.delete(i);
    const out = { total: frame(i) + bestTotal, frames: 1 + bestFrames, depth: 1 + depth };
    memo.set(i, out);
    return out;
  };
  const top = below(0);
  if (recursion || top.depth > 8) return { message: `the call stack of 8 frames is too deep !` };
  const worst = { total: top.total, frames: top.frames };
  if (worst && worst.total > 512) return { message: `combined stack size of ${worst.frames} calls is ${worst.total}. Too large` };
  return undefined;
}

export { E2BIG };
