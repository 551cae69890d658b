import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BtfKind, ProgType, VerifierError, assembleLlvm, fixupObjectBtf, openObject, resolveProgram,
  type BpfObject, type Btf, type MapSpec, type ProgramLineInfo, type ProgramSpec,
} from '@tsbpf/core';
import { KernelBackend } from './backend.js';
import { BtfLoadError, loadBtf } from './btf-load.js';
import { vmlinuxBtf } from './btf.js';
import { native } from './native.js';
import { loadProgram } from './program.js';
import { BpfCmd, coreReloRecords, funcInfoRecords, infoByFdAttr, lineInfoRecords, progLoadAttr } from './sys/bpf-attr.js';
import { kernelSkipReason, openFds } from './test-support.js';

const skip = kernelSkipReason();
const here = dirname(fileURLToPath(import.meta.url));
const fixture = new Uint8Array(readFileSync(resolve(here, '../../core/test/fixtures/elf/minimal.bpfel.o')));

/** `btf_id`, `nr_func_info`, `nr_line_info` of a loaded program (`struct bpf_prog_info`). */
function progInfo(fd: number): { btfId: number; funcInfo: number; lineInfo: number } {
  const info = new Uint8Array(160);
  const enc = infoByFdAttr({ fd, info });
  native().bpf(BpfCmd.OBJ_GET_INFO_BY_FD, enc.attr, enc.ptrs);
  const v = new DataView(info.buffer);
  return { btfId: v.getUint32(128, true), funcInfo: v.getUint32(144, true), lineInfo: v.getUint32(148, true) };
}

/** BTF objects this process holds an fd of. */
function btfFds(): number {
  return readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === 'anon_inode:btf';
    } catch {
      return false; // the directory's own fd is gone by now
    }
  }).length;
}

/** The BTF header's `str_off`/`str_len` and where the string section starts in the blob. */
function strings(data: Uint8Array): { start: number; len: number } {
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  return { start: v.getUint32(4, true) + v.getUint32(16, true), len: v.getUint32(20, true) };
}

/** Offset of `text` in the BTF string section (what `line_off` and `file_name_off` hold). */
function stringOff(data: Uint8Array, text: string): number {
  const { start, len } = strings(data);
  const sec = data.subarray(start, start + len);
  const want = new TextEncoder().encode(`\0${text}\0`);
  for (let i = 0; i + want.length <= sec.length; i++) if (want.every((b, j) => sec[i + j] === b)) return i + 1;
  throw new Error(`"${text}" is not in the BTF string section`);
}

/** The blob with `text` appended to its string section, and its offset there. */
function withString(data: Uint8Array, text: string): { data: Uint8Array; off: number } {
  const { start, len } = strings(data);
  const add = new TextEncoder().encode(`${text}\0`);
  const out = new Uint8Array(start + len + add.length);
  out.set(data.subarray(0, start + len));
  out.set(add, start + len);
  new DataView(out.buffer).setUint32(20, len + add.length, true);
  return { data: out, off: len };
}

/** The byte offset of consecutive little-endian u32 `words` in `bytes`. */
function findWords(bytes: Uint8Array, words: number[]): number {
  const pattern = new Uint8Array(words.length * 4);
  words.forEach((w, i) => new DataView(pattern.buffer).setUint32(i * 4, w, true));
  for (let at = 0; at + pattern.length <= bytes.length; at += 4) if (pattern.every((b, i) => bytes[at + i] === b)) return at;
  throw new Error(`words ${words} not found`);
}

/** Creates the object's maps on `k` (global data filled in); `override` changes a map's spec. */
function createMaps(k: KernelBackend, obj: BpfObject, override: Record<string, Partial<MapSpec>> = {}): number[] {
  return obj.maps.map((m) => {
    const map = k.createMap({ ...m.spec, ...override[m.name] });
    if (m.initial) map.update(new Uint8Array(4), m.initial);
    return map.fd;
  });
}

describe.skipIf(skip)('BTF and BTF.ext records in the kernel', () => {
  let obj: BpfObject;
  let btf: Btf;
  let raw: Uint8Array;
  let fixed: Uint8Array;
  let fdsBefore = 0;
  let onOpenat: number;
  let scale: number;
  /**
   * on_openat's lines, as `llvm-dwarfdump --debug-line minimal.bpfel.o` lists them (slot = address / 8;
   * `scale` is linked after on_openat's 18 slots).
   */
  let lines: ProgramLineInfo[];

  beforeAll(() => {
    fdsBefore = openFds();
    obj = openObject(fixture);
    btf = obj.btf!;
    raw = obj.elf.section('.BTF')!.data;
    fixed = fixupObjectBtf(raw, obj.elf);
    onOpenat = btf.find('on_openat', BtfKind.Func)!.id;
    scale = btf.find('scale', BtfKind.Func)!.id;
    const file = stringOff(fixed, '/work/main/packages/core/test/fixtures/elf/minimal.bpf.c');
    const line = (insnOff: number, lineNum: number, lineCol: number, text: string): ProgramLineInfo =>
      ({ insnOff, fileNameOff: file, lineOff: stringOff(fixed, text), lineNum, lineCol });
    lines = [
      line(0, 44, 0, 'int on_openat(void *ctx) {'),
      line(1, 45, 9, '  __u32 zero = 0;'),
      line(4, 46, 14, '  __u64 *t = bpf_map_lookup_elem(&totals, &zero);'),
      line(8, 47, 7, '  if (t) *t += scale(packets);'),
      line(16, 48, 3, '  return 0;'),
      line(18, 27, 14, '  return v * factor + seed;'),
    ];
  });

  afterAll(() => {
    expect(openFds()).toBe(fdsBefore);
  });

  /** on_openat with its maps on `k`, with `btf` as its BTF and records. */
  function onOpenatSpec(k: KernelBackend, b: ProgramSpec['btf'], override: Record<string, Partial<MapSpec>> = {}): ProgramSpec {
    const p = obj.program('on_openat')!;
    return { insns: resolveProgram(p, createMaps(k, obj, override)), progType: p.progType, license: p.license, name: p.name, ...(b ? { btf: b } : {}) };
  }

  it('the fixed-up fixture BTF loads; with a log the kernel lists the DATASECs as fixed', () => {
    const k = loadBtf(fixed, { logLevel: 1 });
    try {
      expect(k.fd).toBeGreaterThan(0);
      expect(k.id).toBeGreaterThan(0);
      expect(k.size).toBe(fixed.length);
      expect(k.log).toMatch(/\[38\] DATASEC \.maps size=64 vlen=2\s+type_id=14 offset=0 size=32\s+type_id=18 offset=32 size=32/);
      expect(k.log).toMatch(/DATASEC \.bss size=8 vlen=1/);
    } finally {
      k.close();
    }
  });

  // What this kernel rejects in clang's raw BTF, one step of the fix-up at a time.
  const rejected: { name: string; blob: () => Uint8Array; typeId: number; reason: RegExp }[] = [
    { name: 'the raw clang BTF: DATASEC of size 0', blob: () => raw, typeId: 36, reason: /\[36\] DATASEC \.bss size=0 vlen=1 size == 0$/ },
    {
      name: 'sizes fixed but clang\'s zero VAR offsets: the two maps overlap',
      blob: () => { const b = fixed.slice(); new DataView(b.buffer).setUint32(findWords(b, [18, 32, 32]) + 4, 0, true); return b; },
      typeId: 38, reason: /type_id=18 offset=0 size=32 Invalid offset$/,
    },
    {
      name: 'offsets fixed but not in order',
      blob: () => { const b = fixed.slice(); const at = findWords(b, [14, 0, 32, 18, 32, 32]); b.set([...fixed.subarray(at + 12, at + 24), ...fixed.subarray(at, at + 12)], at); return b; },
      typeId: 38, reason: /type_id=14 offset=0 size=32 Invalid offset$/,
    },
    {
      name: 'a corrupt blob: a PTR to type 999 of 40',
      blob: () => { const b = fixed.slice(); new DataView(b.buffer).setUint32(findWords(b, [0, 0x02000000, 3]) + 8, 999, true); return b; },
      typeId: 1, reason: /\[1\] PTR .*type_id=999 Invalid type_id$/,
    },
  ];
  for (const c of rejected) {
    it(`rejects ${c.name}, with the kernel's BTF log in a BtfLoadError`, () => {
      let err: unknown;
      try {
        loadBtf(c.blob()).close();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(BtfLoadError);
      const e = err as BtfLoadError;
      expect(e.code).toBe('E_BTF_LOAD');
      expect(e.errno).toBe(22);
      expect(e.typeId).toBe(c.typeId);
      expect(e.log).toMatch(/^magic: 0xeb9f/);
      expect(e.log.trim()).toMatch(c.reason);
      expect(e.message).toContain(e.log.trim().split('\n').pop()!.trim());
      if (c.typeId === 36) expect(e.message).toMatch(/fixupObjectBtf/);
    });
  }

  it('loads on_openat with func_info for its two functions (and line_info), sharing the backend\'s BTF', () => {
    const k = new KernelBackend();
    try {
      const p = k.load(onOpenatSpec(k, { data: fixed, funcInfo: [{ insnOff: 0, typeId: onOpenat }, { insnOff: 18, typeId: scale }] }));
      const info = progInfo(p.fd);
      expect(info).toEqual({ btfId: k.loadBtf(fixed).id, funcInfo: 2, lineInfo: 0 });
      const q = k.load(onOpenatSpec(k, { data: fixed.slice(), funcInfo: [{ insnOff: 0, typeId: onOpenat }, { insnOff: 18, typeId: scale }], lineInfo: lines }));
      expect(progInfo(q.fd)).toEqual({ btfId: info.btfId, funcInfo: 2, lineInfo: lines.length });
    } finally {
      k.close();
    }
  });

  it('passes func_info for real: the kernel refuses a record whose type is not a FUNC', () => {
    const k = new KernelBackend();
    try {
      const notFunc = btf.find('xdp_md', BtfKind.Struct)!.id;
      let err: unknown;
      try {
        k.load(onOpenatSpec(k, { data: fixed, funcInfo: [{ insnOff: 0, typeId: onOpenat }, { insnOff: 18, typeId: notFunc }] }));
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(VerifierError);
      expect((err as VerifierError).log).toContain(`invalid type id ${notFunc} in func info`);
      // A func_info that misses the subprogram is refused too.
      expect(() => k.load(onOpenatSpec(k, { data: fixed, funcInfo: [{ insnOff: 0, typeId: onOpenat }] })))
        .toThrow(expect.objectContaining({ log: expect.stringContaining("number of funcs in func_info doesn't match number of subprogs") }));
    } finally {
      k.close();
    }
  });

  it('with line_info, the verifier log of a rejected program shows the C source line', () => {
    const k = new KernelBackend();
    try {
      // `totals` with a 4-byte value: `*t += ...` (a u64 access) is out of bounds on line 47.
      const small = { totals: { valueSize: 4 } };
      const funcInfo = [{ insnOff: 0, typeId: onOpenat }, { insnOff: 18, typeId: scale }];
      const reject = (b: ProgramSpec['btf']) => {
        try {
          k.load(onOpenatSpec(k, b, small));
        } catch (e) {
          expect(e).toBeInstanceOf(VerifierError);
          return (e as VerifierError).log;
        }
        throw new Error('loaded');
      };
      const withLines = reject({ data: fixed, funcInfo, lineInfo: lines });
      expect(withLines).toMatch(/invalid access to map value, value_size=4 off=0 size=8/);
      expect(withLines).toMatch(/^; if \(t\) \*t \+= scale\(packets\); @ minimal\.bpf\.c:47$/m);
      expect(withLines).toMatch(/^; return v \* factor \+ seed; @ minimal\.bpf\.c:27$/m);
      // The same rejection without line_info has no source text.
      const without = reject({ data: fixed, funcInfo });
      expect(without).toMatch(/invalid access to map value, value_size=4 off=0 size=8/);
      expect(without).not.toContain('scale(packets)');
    } finally {
      k.close();
    }
  });

  it('one BTF object for all the programs of an object, closed with the backend', () => {
    const before = btfFds();
    const k = new KernelBackend();
    let ids: number[];
    try {
      const fds = createMaps(k, obj);
      ids = obj.programs.map((p) => {
        const fn = btf.find(p.name, BtfKind.Func)!.id;
        const funcInfo = p.name === 'on_openat' ? [{ insnOff: 0, typeId: fn }, { insnOff: 18, typeId: scale }] : [{ insnOff: 0, typeId: fn }];
        // A copy per program: equal bytes are enough to share.
        const prog = k.load({ insns: resolveProgram(p, fds), progType: p.progType, license: p.license, name: p.name, btf: { data: fixed.slice(), funcInfo } });
        return progInfo(prog.fd).btfId;
      });
      expect(ids).toEqual([k.loadBtf(fixed).id, k.loadBtf(fixed).id]);
      expect(ids[0]).toBeGreaterThan(0);
      expect(btfFds()).toBe(before + 1);
    } finally {
      k.close();
    }
    expect(btfFds()).toBe(before);
  });

  it('loadProgram alone loads the BTF for the program and keeps no fd of it', () => {
    const k = new KernelBackend();
    try {
      const before = btfFds();
      const p = loadProgram(onOpenatSpec(k, { data: fixed, funcInfo: [{ insnOff: 0, typeId: onOpenat }, { insnOff: 18, typeId: scale }] }));
      try {
        expect(progInfo(p.fd).btfId).toBeGreaterThan(0);
        expect(btfFds()).toBe(before);
      } finally {
        p.close();
      }
      // A BTF the kernel refuses stops the load with its log.
      expect(() => loadProgram(onOpenatSpec(k, { data: raw }))).toThrow(BtfLoadError);
      expect(() => k.load(onOpenatSpec(k, { data: raw }))).toThrow(expect.objectContaining({ code: 'E_BTF_LOAD', typeId: 36 }));
    } finally {
      k.close();
    }
  });

  it('passes core_relos: the kernel applies a CO-RE relocation against vmlinux BTF', () => {
    const k = new KernelBackend();
    try {
      const xdpMd = btf.find('xdp_md', BtfKind.Struct)!.id;
      const { data, off } = withString(fixed, '0'); // the access string of a type relocation
      const insns = assembleLlvm('r0 = 0\nexit').insns;
      // The kernel reads core_relos only with func_info (or line_info): count_first_byte's FUNC fits an XDP program.
      const funcInfo = [{ insnOff: 0, typeId: btf.find('count_first_byte', BtfKind.Func)!.id }];
      const relo = (insnOff: number) => [{ insnOff, typeId: xdpMd, accessStrOff: off, kind: 7 /* BPF_CORE_TYPE_ID_TARGET */ }];
      // `r0 = 0` becomes `r0 = <id of struct xdp_md in vmlinux>`.
      const p = k.load({ insns, progType: ProgType.Xdp, btf: { data, funcInfo, coreRelos: relo(0) } });
      expect(Number(p.testRun({ data: new Uint8Array(64) }).retval)).toBe(vmlinuxBtf().find('xdp_md', BtfKind.Struct)!.id);
      // insn_off is in bytes: 4 is not an instruction.
      expect(() => k.load({ insns, progType: ProgType.Xdp, btf: { data, funcInfo, coreRelos: relo(4) } }))
        .toThrow(expect.objectContaining({ log: expect.stringContaining('Invalid core_relo[0].insn_off:4') }));
      // Without func_info the kernel would load the program unrelocated: refused before the call.
      expect(() => k.load({ insns, progType: ProgType.Xdp, btf: { data, coreRelos: relo(0) } }))
        .toThrow(expect.objectContaining({ code: 'E_CORE_RELOS_WITHOUT_FUNC_INFO' }));
    } finally {
      k.close();
    }
  });
});

describe('BTF.ext records in the BPF_PROG_LOAD attr (pure)', () => {
  it('puts rec_size, pointer and count where include/uapi/linux/bpf.h has them', () => {
    const funcInfo = funcInfoRecords([{ insnOff: 0, typeId: 25 }, { insnOff: 18, typeId: 27 }]);
    const lineInfo = lineInfoRecords([{ insnOff: 8, fileNameOff: 212, lineOff: 717, lineNum: 47, lineCol: 7 }]);
    const coreRelos = coreReloRecords([{ insnOff: 16, typeId: 20, accessStrOff: 5, kind: 0 }]);
    expect([...new Uint32Array(funcInfo.buffer)]).toEqual([0, 25, 18, 27]);
    expect([...new Uint32Array(lineInfo.buffer)]).toEqual([8, 212, 717, (47 << 10) | 7]);
    expect([...new Uint32Array(coreRelos.buffer)]).toEqual([16, 20, 5, 0]);
    const enc = progLoadAttr({ progType: ProgType.Xdp, insns: new Uint8Array(16), license: 'GPL', progBtfFd: 9, funcInfo, lineInfo, coreRelos });
    const v = new DataView(enc.attr.buffer);
    const u32 = (off: number) => v.getUint32(off, true);
    expect({ btfFd: u32(72), funcRec: u32(76), funcCnt: u32(88), lineRec: u32(92), lineCnt: u32(104), reloCnt: u32(116), reloRec: u32(136) })
      .toEqual({ btfFd: 9, funcRec: 8, funcCnt: 2, lineRec: 16, lineCnt: 1, reloCnt: 1, reloRec: 16 });
    const ptrs = new Map(enc.ptrs);
    expect(ptrs.get(80)).toBe(funcInfo);
    expect(ptrs.get(96)).toBe(lineInfo);
    expect(ptrs.get(128)).toBe(coreRelos);
    // Without records every field stays zero (the kernel refuses a rec_size without records).
    const none = progLoadAttr({ progType: ProgType.Xdp, insns: new Uint8Array(16), license: 'GPL' });
    expect(none.attr.subarray(72, 152).every((b) => b === 0)).toBe(true);
    expect(none.ptrs.map(([off]) => off)).toEqual([8, 16, 32]);
  });
});
