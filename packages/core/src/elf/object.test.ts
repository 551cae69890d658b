import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ElfError } from '../errors.js';
import { PseudoLd } from '../isa/opcodes.js';
import { AttachType } from '../uapi/attach-types.js';
import { MapType } from '../uapi/map-types.js';
import { ProgType } from '../uapi/prog-types.js';
import { parseElf } from './elf.js';
import { openObject } from './object.js';
import { progTypeOfSection } from './sections.js';

const fixtures = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'test', 'fixtures', 'elf');
const fixture = (name: string) => new Uint8Array(readFileSync(join(fixtures, name)));

describe('section names (libbpf\'s table)', () => {
  it('gives the program type, expected attach type and target', () => {
    expect(progTypeOfSection('xdp')).toMatchObject({ progType: ProgType.Xdp, expectedAttachType: AttachType.Xdp });
    expect(progTypeOfSection('kprobe/tcp_v4_connect')).toMatchObject({ progType: ProgType.Kprobe, target: 'tcp_v4_connect' });
    expect(progTypeOfSection('tracepoint/syscalls/sys_enter_openat')).toMatchObject({ progType: ProgType.Tracepoint, target: 'syscalls/sys_enter_openat' });
    expect(progTypeOfSection('tp_btf/sched_switch')).toMatchObject({ progType: ProgType.Tracing, expectedAttachType: AttachType.TraceRawTp });
    expect(progTypeOfSection('cgroup/connect4')).toMatchObject({ progType: ProgType.CgroupSockAddr, expectedAttachType: AttachType.CgroupInet4Connect });
    expect(progTypeOfSection('sk_skb/stream_verdict')).toMatchObject({ progType: ProgType.SkSkb, expectedAttachType: AttachType.SkSkbStreamVerdict });
    expect(progTypeOfSection('xdpfoo')).toBeUndefined();
    expect(progTypeOfSection('kprobe')).toMatchObject({ progType: ProgType.Kprobe });
  });
});

describe('openObject', () => {
  it('finds the programs, the BTF-defined maps and the global data of clang\'s object', () => {
    const o = openObject(fixture('minimal.bpfel.o'));
    expect(o.license).toBe('GPL');
    expect(o.programs.map((p) => [p.name, p.section, p.progType])).toEqual([
      ['count_first_byte', 'xdp', ProgType.Xdp],
      ['on_openat', 'tracepoint/syscalls/sys_enter_openat', ProgType.Tracepoint],
    ]);
    expect(o.program('on_openat')!.target).toBe('syscalls/sys_enter_openat');
    expect(o.maps.map((m) => [m.name, m.kind, m.spec.type, m.spec.keySize, m.spec.valueSize, m.spec.maxEntries])).toEqual([
      ['counts', 'btf', MapType.Hash, 4, 8, 64],
      ['totals', 'btf', MapType.Array, 4, 8, 1],
      ['.rodata', 'data', MapType.Array, 4, 4, 1],
      ['.bss', 'data', MapType.Array, 4, 8, 1],
      ['.data', 'data', MapType.Array, 4, 8, 1],
    ]);
    // const volatile __u32 factor = 3; __u64 seed = 7; __u64 packets = 0;
    expect([...o.map('.rodata')!.initial!]).toEqual([3, 0, 0, 0]);
    expect([...o.map('.data')!.initial!]).toEqual([7, 0, 0, 0, 0, 0, 0, 0]);
    expect([...o.map('.bss')!.initial!]).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('links the .text subprogram after the program that calls it and records every map reference', () => {
    const o = openObject(fixture('minimal.bpfel.o'));
    const tp = o.program('on_openat')!;
    // The tracepoint section is 0x90 bytes (18 slots), .text 0x48 (9 slots): scale() appended.
    expect(tp.code.length / 8).toBe(18 + 9);
    const call = tp.insns.find((i) => i.op === 0x85 && i.src === 1)!;
    const callSlot = tp.insns.slice(0, tp.insns.indexOf(call)).reduce((n, i) => n + (i.wide ? 2 : 1), 0);
    expect(callSlot + 1 + call.imm).toBe(18);
    // totals (fd), packets (.bss value), and in scale(): factor (.rodata) and seed (.data).
    expect(tp.refs.map((r) => [o.maps[r.map].name, r.kind, r.offset])).toEqual([
      ['totals', 'fd', 0], ['.bss', 'value', 0], ['.rodata', 'value', 0], ['.data', 'value', 0],
    ]);
    for (const r of tp.refs) {
      const insn = tp.insns.find((_, k) => tp.insns.slice(0, k).reduce((n, i) => n + (i.wide ? 2 : 1), 0) === r.slot)!;
      expect(insn.src).toBe(r.kind === 'fd' ? PseudoLd.MAP_FD : PseudoLd.MAP_VALUE);
    }
    const xdp = o.program('count_first_byte')!;
    expect(xdp.refs.map((r) => o.maps[r.map].name)).toEqual(['counts', 'counts', '.bss']);
  });

  it('links the same code from a Node Buffer that is a view into a larger buffer, and leaves the caller\'s bytes alone', () => {
    // Buffer.prototype.slice is a view: linking once wrote through it into the caller's memory
    // and left the call unpatched (call -1, a call to itself).
    const file = readFileSync(join(fixtures, 'minimal.bpfel.o'));
    const pool = Buffer.alloc(file.length + 13, 0xee);
    file.copy(pool, 13);
    const view = pool.subarray(13);
    const before = Buffer.from(pool);
    const o = openObject(view);
    expect(Buffer.compare(pool, before)).toBe(0);
    const plain = openObject(fixture('minimal.bpfel.o'));
    for (const p of plain.programs) expect(o.program(p.name)!.code).toEqual(p.code);
  });

  it('reads map-in-map templates, prog-array initial values and map_extra from BTF map definitions', () => {
    const more = openObject(fixture('maps_more.bpfel.o'));
    expect(more.map('bloom')!.spec).toMatchObject({ type: MapType.BloomFilter, keySize: 0, valueSize: 4, maxEntries: 64, mapExtra: 3 });
    const aom = more.maps.find((m) => m.spec.type === MapType.ArrayOfMaps)!;
    expect(aom.spec.innerMap).toBeDefined();
    expect(aom.spec.valueSize).toBe(4);
    expect(aom.initialSlots?.[0]).toMatchObject({ index: 0, kind: 'map' });
    const tail = openObject(fixture('tailcall.bpfel.o'));
    const progs = tail.maps.find((m) => m.spec.type === MapType.ProgArray)!;
    expect(progs.initialSlots).toEqual([{ index: 0, kind: 'prog', target: 'to_drop' }, { index: 2, kind: 'prog', target: 'to_tx' }]);
  });

  it('reads the big-endian build to the same programs and maps (instructions converted to the little-endian encoding)', () => {
    const le = openObject(fixture('minimal.bpfel.o'));
    const be = openObject(fixture('minimal.bpfeb.o'));
    expect(be.littleEndian).toBe(false);
    expect(be.programs.map((p) => p.insns)).toEqual(le.programs.map((p) => p.insns));
    expect(be.maps.map((m) => m.spec)).toEqual(le.maps.map((m) => m.spec));
    expect([...be.map('.rodata')!.initial!]).toEqual([0, 0, 0, 3]);
  });

  it('refuses an object whose program section libbpf does not know, with the section', () => {
    const bytes = fixture('minimal.bpfel.o');
    // Rename the section in the section-name table (.strtab here), where ".reltracepoint/..." shares its tail.
    const strtab = parseElf(bytes).section('.strtab')!;
    const i = strtab.offset + Buffer.from(strtab.data).indexOf('tracepoint/syscalls');
    const bad = bytes.slice();
    bad.set(Buffer.from('trxcepoint'), i);
    let err: unknown;
    try {
      openObject(bad);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ElfError);
    expect((err as ElfError).message).toContain('"trxcepoint/syscalls/sys_enter_openat" is not one libbpf knows');
  });
});
