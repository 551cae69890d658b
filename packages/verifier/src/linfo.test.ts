/**
 * C source lines in the log (`line_info`), ours against the running kernel's: hand-written programs
 * with made-up line info that reach each rule of the kernel's `verbose_linfo` (dedup by file and
 * line, basename, the state kept across level-1 rewinds, the line before `infinite loop detected`),
 * and the clang-built fixtures of packages/core/test/fixtures/elf loaded with their BTF, func_info
 * and line_info, as built and with checks patched out. The `; <line> @ <file>:<n>` lines of the two
 * logs must be equal, line for line.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  Btf, ProgType, VerifierError, assembleLlvm, loadObjectInto, openObject,
  type Backend, type BpfObject, type Insn, type LoadedMapInfo, type ObjectProgram, type ProgramLineInfo, type ProgramSpec,
} from '@tsbpf/core';
import { KernelBackend, probe } from '@tsbpf/kernel';
import { LinePrinter } from './line-info.js';
import { funcsFromBtf, lineInfoOf, verify, type LineInfo, type VerifyResult } from './index.js';

const fixtures = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'core', 'test', 'fixtures', 'elf');
const open = (name: string) => openObject(new Uint8Array(readFileSync(join(fixtures, `${name}.bpfel.o`))));
const VMLINUX = '/sys/kernel/btf/vmlinux';
const vmlinux = existsSync(VMLINUX) ? Btf.parse(new Uint8Array(readFileSync(VMLINUX))) : undefined;
const kernel = probe();
if (!kernel.ok) console.log(`line_info differential tests skipped: ${kernel.reason}`);

const LINE = /^; .* @ [^ ]*:\d+$/;
/** The log's source lines, in order. */
const sourceLines = (log: string) => log.split('\n').filter((l) => LINE.test(l));

/**
 * The log as events: source lines (`L`), instructions processed (`I`), states found safe (`S`),
 * the start of a global function's pass (`V`). Our `from ? to N:` and the kernel's `from M to N:`
 * state lines are left out (ours has no M).
 */
function events(log: string): string[] {
  const out: string[] = [];
  for (const l of log.split('\n')) {
    let m: RegExpMatchArray | null;
    if (LINE.test(l)) out.push(`L ${l}`);
    else if ((m = l.match(/^(\d+): \(/))) out.push(`I ${m[1]}`);
    else if ((m = l.match(/^(?:from \d+ to )?(\d+): safe/))) out.push(`S ${m[1]}`);
    else if (l.startsWith('Validating ')) out.push(`V ${l}`);
  }
  return out;
}

/**
 * Both logs up to where the two verifiers first go different ways (an instruction one processes and
 * the other prunes): up to there the same instructions were printed, so the same source lines must
 * be. `same` when the walks never part.
 */
function commonWalk(ours: string, theirs: string): { same: boolean; ours: string[]; kernel: string[]; at?: string } {
  const a = events(ours);
  const b = events(theirs);
  const steps = (e: string[]) => e.map((x, i) => [x, i] as const).filter(([x]) => !x.startsWith('L '));
  const sa = steps(a);
  const sb = steps(b);
  let k = 0;
  while (k < sa.length && k < sb.length && sa[k]![0] === sb[k]![0]) k++;
  if (k === sa.length && k === sb.length) return { same: true, ours: a, kernel: b };
  // cut after the last common step: the source line before the first different one depends on it
  const cut = (s: typeof sa, e: string[]) => (k === 0 ? [] : e.slice(0, s[k - 1]![1] + 1));
  return { same: false, ours: cut(sa, a), kernel: cut(sb, b), at: `ours ${sa[k]?.[0] ?? 'end'}, kernel ${sb[k]?.[0] ?? 'end'}` };
}

/**
 * The kernel's level-2 log with its source lines put back by our LinePrinter from its own walk: the
 * printing rule checked on every instruction the kernel processed, whatever our walk is.
 */
function replay(kernelLog: string, lines: readonly LineInfo[], progLen: number): { printed: string[]; replayed: string[] } {
  const p = new LinePrinter(lines, progLen);
  const replayed: string[] = [];
  for (const l of kernelLog.split('\n')) {
    let m: RegExpMatchArray | null;
    if (l.startsWith('Validating ')) p.reset();
    else if ((m = l.match(/^(\d+): \(/)) || (m = l.match(/^infinite loop detected at insn (\d+)/))) {
      const s = p.at(Number(m[1]), '; ');
      if (s !== undefined) replayed.push(s);
    }
  }
  return { printed: sourceLines(kernelLog), replayed };
}

// ---- hand-written programs with made-up line info ----

/** A BTF blob with one `int` and the given strings (each at its own offset, repeats included). */
function tinyBtf(strings: readonly string[]): { data: Uint8Array; offsets: number[] } {
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [new Uint8Array([0]), enc.encode('int\0')];
  const offsets: number[] = [];
  let at = 5;
  for (const s of strings) {
    offsets.push(at);
    const b = enc.encode(`${s}\0`);
    parts.push(b);
    at += b.length;
  }
  const str = new Uint8Array(at);
  let o = 0;
  for (const b of parts) {
    str.set(b, o);
    o += b.length;
  }
  const types = new Uint8Array(16);
  const tv = new DataView(types.buffer);
  tv.setUint32(0, 1, true); // name "int"
  tv.setUint32(4, 1 << 24, true); // BTF_KIND_INT
  tv.setUint32(8, 4, true);
  tv.setUint32(12, 32, true); // 32 bits, unsigned
  const data = new Uint8Array(24 + types.length + str.length);
  const v = new DataView(data.buffer);
  v.setUint16(0, 0xeb9f, true);
  data[2] = 1;
  v.setUint32(4, 24, true);
  v.setUint32(8, 0, true);
  v.setUint32(12, types.length, true);
  v.setUint32(16, types.length, true);
  v.setUint32(20, str.length, true);
  data.set(types, 24);
  data.set(str, 24 + types.length);
  return { data, offsets };
}

/** One record of a hand-written case: slot, file, text, line, column. */
type Rec = [slot: number, file: string, text: string, line: number, col: number];

/** The records as the kernel gets them (BTF string offsets) and as we do (strings, the same offsets). */
function records(recs: readonly Rec[]): { data: Uint8Array; kernel: ProgramLineInfo[]; ours: LineInfo[] } {
  // one string per distinct text; a file written `name#2` is the same name at a second offset
  const strings = [...new Set(recs.flatMap(([, f, t]) => [f, t]))];
  const { data, offsets } = tinyBtf(strings.map((s) => s.replace(/#\d+$/, '')));
  const off = (s: string) => offsets[strings.indexOf(s)]!;
  return {
    data,
    kernel: recs.map(([slot, f, t, line, col]) => ({ insnOff: slot, fileNameOff: off(f), lineOff: off(t), lineNum: line, lineCol: col })),
    ours: recs.map(([slot, f, t, line, col]) => ({ insnOff: slot, fileName: f.replace(/#\d+$/, ''), line: t, lineNum: line, col, fileNameOff: off(f) })),
  };
}

/** Loads on the kernel; its log and verdict. */
function kernelLoad(k: KernelBackend, spec: ProgramSpec): { ok: boolean; log: string } {
  try {
    return { ok: true, log: k.load(spec).log };
  } catch (e) {
    if (e instanceof VerifierError) return { ok: false, log: e.log };
    throw e;
  }
}

interface HandCase {
  name: string;
  asm: string;
  lines: Rec[];
  /** The verdict: accepted, or the message both verifiers give. */
  expected: 'ok' | RegExp;
  /** Source lines our level-1 log must show (checks the case reaches the rule it is about). */
  level1?: string[];
}

const handCases: HandCase[] = [
  {
    name: 'columns of one line print once; another file with the same line number prints; basename; leading blanks trimmed; empty text',
    asm: 'r2 = *(u32 *)(r1 + 0)\nr0 = 0\nr0 += r2\nr0 += 1\nr0 = *(u64 *)(r0 + 0)\nexit',
    lines: [
      [0, 'dir/a.c', '  int len = skb->len;', 10, 5],
      [1, 'dir/a.c', 'int len = skb->len;', 10, 12],
      [2, '/abs/path/b.h', '\t\vr0 += len;', 10, 3],
      [3, 'dir/a.c', '', 11, 0],
      [4, 'dir/a.c', 'return *(long *)x;', 12, 1],
    ],
    expected: /R0 invalid mem access 'scalar'/,
    level1: ['; int len = skb->len; @ a.c:10', '; r0 += len; @ b.h:10', ';  @ a.c:11', '; return *(long *)x; @ a.c:12'],
  },
  {
    name: 'the same file name at another string offset is another file',
    asm: 'r0 = 0\nr0 += 1\nr0 = *(u64 *)(r0 + 0)\nexit',
    lines: [
      [0, 'x.c', 'int a = 0;', 3, 1],
      [1, 'x.c#2', 'a += 1;', 3, 9],
      [2, 'x.c', 'return *(long *)a;', 4, 1],
    ],
    expected: /R0 invalid mem access 'scalar'/,
    level1: ['; int a = 0; @ x.c:3', '; a += 1; @ x.c:3', '; return *(long *)a; @ x.c:4'],
  },
  {
    // level 1: the fall-through path (printing line 3) is rewound away, and the branch resumed at
    // slot 4 is on line 3 too: the kernel remembers having printed it and prints nothing
    name: 'the line printed last stays remembered across a level-1 rewind',
    asm: 'r2 = *(u32 *)(r1 + 0)\nif r2 == 0 goto +2\nr0 = 0\nexit\nr0 = *(u64 *)(r2 + 0)\nexit',
    lines: [
      [0, 'p.c', 'int n = skb->len;', 1, 1],
      [1, 'p.c', 'if (n) {', 2, 1],
      [2, 'p.c', 'return n ? 0 : *(long *)n;', 3, 1],
      [4, 'p.c', 'return n ? 0 : *(long *)n;', 3, 20],
    ],
    expected: /R2 invalid mem access 'scalar'/,
    level1: ['; int n = skb->len; @ p.c:1', '; if (n) { @ p.c:2'],
  },
  {
    name: 'a resumed branch on another line prints it',
    asm: 'r2 = *(u32 *)(r1 + 0)\nif r2 == 0 goto +2\nr0 = 0\nexit\nr0 = *(u64 *)(r2 + 0)\nexit',
    lines: [
      [0, 'p.c', 'int n = skb->len;', 1, 1],
      [1, 'p.c', 'if (n) {', 2, 1],
      [2, 'p.c', 'return 0;', 3, 1],
      [4, 'p.c', 'return *(long *)n;', 4, 1],
    ],
    expected: /R2 invalid mem access 'scalar'/,
    level1: ['; int n = skb->len; @ p.c:1', '; if (n) { @ p.c:2', '; return *(long *)n; @ p.c:4'],
  },
  {
    name: 'infinite loop: the loop head\'s line before the message',
    asm: 'r0 = 0\nr0 = 0\nr1 = 1\nif r1 != 0 goto -3\nexit',
    lines: [
      [0, 'l.c', 'int x = 0;', 1, 1],
      [1, 'l.c', 'again: x = 0;', 2, 1],
      [2, 'l.c', 'goto again;', 3, 1],
      [4, 'l.c', 'return x;', 4, 1],
    ],
    expected: /infinite loop detected at insn 1/,
  },
  {
    name: 'a context access error (the kernel\'s verbose_linfo there repeats the line just printed: nothing)',
    asm: 'r0 = 0\nr2 = *(u32 *)(r1 + 1000)\nexit',
    lines: [
      [0, 'c.c', 'int r = 0;', 1, 1],
      [1, 'c.c', 'r = skb->cb[250];', 2, 1],
    ],
    expected: /invalid bpf_context access off=1000 size=4/,
    level1: ['; int r = 0; @ c.c:1', '; r = skb->cb[250]; @ c.c:2'],
  },
  {
    name: 'no record past the last slot: the last record covers the rest',
    asm: 'r0 = 0\nr1 = 1\nr0 += r1\nexit',
    lines: [[0, 'e.c', 'return 1;', 7, 3]],
    expected: 'ok',
  },
];

describe('line_info: input and the kernel\'s checks (no kernel needed)', () => {
  const prog = assembleLlvm('r0 = 0\nr0 = *(u64 *)(r0 + 0)\nexit').insns;
  const line = (insnOff: number, lineNum = insnOff + 1): LineInfo => ({ insnOff, fileName: 'src/t.c', line: `line ${lineNum}`, lineNum });
  const run = (lineInfo: LineInfo[], logLevel: 0 | 1 | 2 = 1, insns: readonly Insn[] = prog) => verify(insns, { progType: 'socket_filter', logLevel, lineInfo });

  it('prints `; <text> @ <basename>:<line>` before the instructions of each new line, at levels 1 and 2 only', () => {
    const r = run([line(0), line(1)]);
    expect(r.log.split('\n').slice(0, 5)).toEqual(['; line 1 @ t.c:1', '0: (b7) r0 = 0', '; line 2 @ t.c:2', '1: (79) r0 = *(u64 *)(r0 +0)', "R0 invalid mem access 'scalar'"]);
    expect(sourceLines(run([line(0), line(1)], 2).log)).toEqual(['; line 1 @ t.c:1', '; line 2 @ t.c:2']);
    expect(sourceLines(run([line(0), line(1)], 0).log)).toEqual([]);
  });

  it('keeps at most 1023 bytes of a line\'s text, as the kernel\'s 1024-byte format buffer does', () => {
    // (not checked against the kernel: there an over-long line also sets off a WARN_ONCE)
    const long = 'x'.repeat(1500);
    expect(sourceLines(run([{ ...line(0), line: long }]).log)[0]).toBe(`; ${'x'.repeat(1023)} @ t.c:1`);
  });

  it('refuses malformed records as input errors', () => {
    for (const bad of [{}, [null], [{ insnOff: 0, fileName: 'a.c', line: 'x' }], [{ insnOff: 0.5, fileName: 'a.c', line: 'x', lineNum: 1 }], [{ insnOff: 0, fileName: 1, line: 'x', lineNum: 1 }]]) {
      const r = verify(prog, { progType: 'socket_filter', lineInfo: bad as LineInfo[] });
      expect(r.error?.code).toBe('E_VERIFIER_INPUT');
      expect(r.error?.message).toMatch(/^lineInfo/);
    }
  });

  // check_btf_line's messages; the kernel cases below load the same records
  const checks: [string, LineInfo[], string, (readonly Insn[])?][] = [
    ['no record at slot 0', [line(1)], 'missing bpf_line_info for func#0'],
    ['offsets not increasing', [line(0), line(2), line(1)], 'Invalid line_info[2].insn_off:1 (prev_offset:2 prog->len:3)'],
    ['a repeated offset', [line(0), line(0)], 'Invalid line_info[1].insn_off:0 (prev_offset:0 prog->len:3)'],
    ['an offset past the end', [line(0), line(3)], 'Invalid line_info[1].insn_off:3 (prev_offset:0 prog->len:3)'],
    ['the second slot of an lddw', [line(0), line(1)], 'Invalid insn code at line_info[1].insn_off', assembleLlvm('r0 = 1 ll\nexit').insns],
    ['a subprogram without a record', [line(0)], 'missing bpf_line_info for 1 funcs starting from func#1', assembleLlvm('call pc+1\nexit\nr0 = 0\nexit').insns],
    ['a subprogram whose record comes late', [line(0), line(3)], 'missing bpf_line_info for func#1', assembleLlvm('call pc+1\nexit\nr0 = 0\nexit').insns],
  ];
  it.each(checks)('check_btf_line: %s', (_, lines, message, insns) => {
    const r = run(lines, 1, insns);
    expect(r.error).toMatchObject({ code: 'E_VERIFIER_REJECT', message, errno: 22 });
  });

  describe.skipIf(!kernel.ok)('the kernel gives the same messages', () => {
    it.each(checks)('check_btf_line: %s', (_, lines, message, insns = prog) => {
      const recs = records(lines.map((l) => [l.insnOff, l.fileName, l.line, l.lineNum, 0] as Rec));
      const k = new KernelBackend();
      try {
        const got = kernelLoad(k, { insns, progType: ProgType.SocketFilter, logLevel: 1, btf: { data: recs.data, lineInfo: recs.kernel } });
        expect(got.ok).toBe(false);
        expect(got.log).toContain(message);
      } finally {
        k.close();
      }
    });
  });
});

describe.skipIf(!kernel.ok)('line_info: hand-written programs, ours and the kernel\'s', () => {
  for (const c of handCases) {
    for (const level of [1, 2] as const) {
      it(`${c.name} (log level ${level})`, () => {
        const insns = assembleLlvm(c.asm).insns;
        const recs = records(c.lines);
        const ours = verify(insns, { progType: 'socket_filter', logLevel: level, lineInfo: recs.ours });
        const k = new KernelBackend();
        let theirs: { ok: boolean; log: string };
        try {
          theirs = kernelLoad(k, { insns, progType: ProgType.SocketFilter, logLevel: level, btf: { data: recs.data, lineInfo: recs.kernel } });
        } finally {
          k.close();
        }
        if (c.expected === 'ok') expect([ours.ok, theirs.ok]).toEqual([true, true]);
        else {
          expect([ours.ok, theirs.ok]).toEqual([false, false]);
          expect(ours.error?.message).toMatch(c.expected);
          expect(theirs.log).toMatch(c.expected);
        }
        expect(sourceLines(ours.log)).toEqual(sourceLines(theirs.log));
        expect(events(ours.log)).toEqual(events(theirs.log));
        if (level === 1 && c.level1) expect(sourceLines(ours.log)).toEqual(c.level1);
        if (level === 2) {
          const { printed, replayed } = replay(theirs.log, recs.ours, insns.reduce((n, i) => n + (i.wide ? 2 : 1), 0));
          expect(replayed).toEqual(printed);
        }
      });
    }
  }
});

// ---- the clang-built fixtures ----

/** Loads `name` of `obj` on the kernel at `logLevel` and runs our verifier on the same spec, maps and records. */
function both(obj: BpfObject, name: string, logLevel: 1 | 2, opts: { targetBtf?: Btf } = {}): { kernel: { ok: boolean; log: string }; ours: VerifyResult; lines: LineInfo[]; len: number } {
  const k = new KernelBackend();
  const at: Backend = { name: k.name, createMap: (s) => k.createMap(s), load: (s) => k.load({ ...s, logLevel }), close: () => k.close() };
  const p = obj.program(name)!;
  const lines = lineInfoOf(p);
  let ours: VerifyResult | undefined;
  const hook = (spec: ProgramSpec, maps: LoadedMapInfo[]) => {
    if (spec.name !== name.slice(0, 15)) return;
    expect(spec.btf?.lineInfo?.length, 'the kernel gets line_info').toBe(lines.length);
    const funcInfo = spec.btf?.funcInfo;
    ours = verify(spec.insns, {
      progType: spec.progType, expectedAttachType: spec.expectedAttachType, license: spec.license, progFlags: spec.flags, logLevel,
      maps: maps.map((m) => ({
        fd: m.fd, name: m.name, type: m.spec.type, keySize: m.spec.keySize, valueSize: m.spec.valueSize, maxEntries: m.spec.maxEntries,
        ...(m.spec.flags ? { flags: m.spec.flags } : {}), frozen: m.frozen,
        ...(m.frozen && obj.map(m.name)?.initial ? { initialValue: obj.map(m.name)!.initial } : {}),
        ...(m.spec.innerMap ? { inner: { type: m.spec.innerMap.type, keySize: m.spec.innerMap.keySize, valueSize: m.spec.innerMap.valueSize, maxEntries: m.spec.innerMap.maxEntries } } : {}),
      })),
      ...(funcInfo?.length && obj.btf ? { funcs: funcsFromBtf(obj.btf, funcInfo.map((f) => [f.insnOff, f.typeId] as const), spec.progType) } : {}),
      lineInfo: lines,
    });
  };
  try {
    const l = loadObjectInto(obj, at, { autoload: [name], verify: hook, ...(opts.targetBtf ? { targetBtf: opts.targetBtf } : {}) });
    return { kernel: { ok: true, log: l.program(name).log }, ours: ours!, lines, len: p.code.length / 8 };
  } catch (e) {
    if (!(e instanceof VerifierError)) throw e;
    return { kernel: { ok: false, log: e.log }, ours: ours!, lines, len: p.code.length / 8 };
  } finally {
    at.close();
  }
}

/** Overwrites a slot of a program's linked code (as the kernel reads it). */
function patch(p: ObjectProgram, slot: number, i: { op: number; dst?: number; src?: number; off?: number; imm?: number }): void {
  const at = slot * 8;
  const v = new DataView(p.code.buffer, p.code.byteOffset, p.code.byteLength);
  p.code[at] = i.op;
  p.code[at + 1] = (i.dst ?? 0) | ((i.src ?? 0) << 4);
  v.setInt16(at + 2, i.off ?? 0, true);
  v.setInt32(at + 4, i.imm ?? 0, true);
}
const JA = 0x05, JNE_IMM = 0x55, LDX_DW = 0x79, LDX_W = 0x61;

/** Programs both verifiers accept (all the fixtures' but externs', whose __ksym the loader leaves to the kernel); the CO-RE ones need the kernel's BTF. */
const accepted: { fixture: string; core?: boolean }[] = [
  { fixture: 'minimal' }, { fixture: 'maps' }, { fixture: 'globals' }, { fixture: 'subprogs' }, { fixture: 'tailcall' }, { fixture: 'xdp_parser' },
  { fixture: 'core', core: true }, { fixture: 'kprobe_tracer', core: true }, { fixture: 'maps_more' },
];

/** A program with a check patched out; both verifiers reject it with `message`. */
interface Mutant {
  fixture: string;
  program: string;
  what: string;
  mutate(p: ObjectProgram): void;
  message: RegExp;
}

const mutants: Mutant[] = [
  // minimal.bpf.c count_first_byte: 4: if r3 > r2 goto +25 (`if (data + 1 > end) return 2;`)
  { fixture: 'minimal', program: 'count_first_byte', what: 'the packet bounds check removed', mutate: (p) => patch(p, 4, { op: JA }), message: /invalid access to packet, off=0 size=1, R1\(id=0,off=0,r=0\)/ },
  // 14: if r0 == 0 goto +2 (`if (v)`) inverted
  { fixture: 'minimal', program: 'count_first_byte', what: 'the NULL check inverted', mutate: (p) => patch(p, 14, { op: JNE_IMM, off: 2 }), message: /R0 invalid mem access 'scalar'/ },
  // 0: r2 = *(u32 *)(r1 + 4) (ctx->data_end) read at a misaligned offset
  { fixture: 'minimal', program: 'count_first_byte', what: 'a context field read at offset 5', mutate: (p) => patch(p, 0, { op: LDX_W, dst: 2, src: 1, off: 5 }), message: /invalid bpf_context access off=5 size=4/ },
  // 30: r0 = 2 becomes `if r1 != 0 goto -6` (r1 the .bss map value: always taken): packets++ forever
  { fixture: 'minimal', program: 'count_first_byte', what: 'packets++ looped forever', mutate: (p) => patch(p, 30, { op: JNE_IMM, dst: 1, off: -6 }), message: /infinite loop detected at insn 25/ },
  // on_openat 13: r1 = *(u64 *)(r6 + 0) (`*t += ...`, after the call to scale) read 8 bytes further
  { fixture: 'minimal', program: 'on_openat', what: 'the map value read past its end, after a call', mutate: (p) => patch(p, 13, { op: LDX_DW, dst: 1, src: 6, off: 8 }), message: /invalid access to map value, value_size=8 off=8 size=8/ },
  // xdp_parser.bpf.c 43: if r6 > r7 goto +75 (`if ((void *)(ip6 + 1) > end)`): the IPv6 branch, verified after the IPv4 one
  { fixture: 'xdp_parser', program: 'xdp_parser', what: 'the IPv6 header bounds check removed', mutate: (p) => patch(p, 43, { op: JA }), message: /invalid access to packet, off=20 size=1/ },
  // 60: if r1 > r7 goto +58 (`if ((void *)(udp + 1) > end)`)
  { fixture: 'xdp_parser', program: 'xdp_parser', what: 'the UDP header bounds check removed', mutate: (p) => patch(p, 60, { op: JA }), message: /invalid access to packet, off=16 size=2/ },
  // subprogs.bpf.c, prog_a linked: 46 (global_fn) r1 &= 255 becomes a load through the scalar x
  { fixture: 'subprogs', program: 'prog_a', what: 'the global function dereferences its scalar', mutate: (p) => patch(p, 46, { op: LDX_DW, dst: 0, src: 1 }), message: /R1 invalid mem access 'scalar'/ },
  // 67 (leaf, reached through middle) r0 = r1 becomes a load through x
  { fixture: 'subprogs', program: 'prog_a', what: 'a static subprogram two calls deep dereferences its scalar', mutate: (p) => patch(p, 67, { op: LDX_DW, dst: 0, src: 1 }), message: /R1 invalid mem access 'scalar'/ },
];

describe.skipIf(!kernel.ok)('line_info: the clang-built fixtures, ours and the kernel\'s', () => {
  /**
   * Level 1: the logs' source lines are equal. Level 2: equal where the two walks agree; where our
   * pruning parts from the kernel's (our checkpoints differ: the walks process different
   * instructions after that point), equal up to there, and the kernel's whole log replayed through
   * our printer gives its source lines.
   */
  const compare = (r: ReturnType<typeof both>, level: 1 | 2): void => {
    const walk = commonWalk(r.ours.log, r.kernel.log);
    if (level === 1 || walk.same) {
      expect(sourceLines(r.ours.log)).toEqual(sourceLines(r.kernel.log));
      if (walk.same) expect(walk.ours).toEqual(walk.kernel);
    } else {
      expect(walk.ours).toEqual(walk.kernel);
    }
    if (level === 2) {
      const { printed, replayed } = replay(r.kernel.log, r.lines, r.len);
      expect(printed.length).toBeGreaterThan(0);
      expect(replayed).toEqual(printed);
    }
  };

  for (const a of accepted) {
    const skip = a.core && !vmlinux;
    for (const p of skip ? [] : open(a.fixture).programs) {
      for (const level of [1, 2] as const) {
        it(`${a.fixture}/${p.name} accepted (log level ${level})`, () => {
          const r = both(open(a.fixture), p.name, level, a.core ? { targetBtf: vmlinux } : {});
          expect([r.ours.ok, r.kernel.ok]).toEqual([true, true]);
          compare(r, level);
        });
      }
    }
  }

  for (const m of mutants) {
    for (const level of [1, 2] as const) {
      it(`${m.fixture}/${m.program}: ${m.what} (log level ${level})`, () => {
        const obj = open(m.fixture);
        m.mutate(obj.program(m.program)!);
        const r = both(obj, m.program, level);
        expect([r.ours.ok, r.kernel.ok]).toEqual([false, false]);
        expect(r.ours.log).toMatch(m.message);
        expect(r.kernel.log).toMatch(m.message);
        expect(sourceLines(r.kernel.log).length).toBeGreaterThan(0);
        compare(r, level);
      });
    }
  }
});
