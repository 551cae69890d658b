import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { MapFlags, MapType, decode, loadObject, loadObjectInto, openObject, type Backend, type BackendMap } from '@tsbpf/core';
import { InterpBackend } from '@tsbpf/interp';
import { JitBackend } from '@tsbpf/jit-wasm';
import { KernelBackend, kernelSymbols, probe } from '@tsbpf/kernel';
import { objectVerifier } from '@tsbpf/verifier';

const fixtures = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'core', 'test', 'fixtures', 'elf');
const object = () => openObject(new Uint8Array(readFileSync(join(fixtures, 'minimal.bpfel.o'))));
const u64 = (m: BackendMap, key: Uint8Array) => {
  const v = m.lookup(key);
  return v ? new DataView(v.buffer, v.byteOffset).getBigUint64(0, true) : undefined;
};
const key32 = (k: number) => Uint8Array.of(k & 0xff, (k >> 8) & 0xff, 0, 0);
const packet = (first: number) => Uint8Array.from({ length: 64 }, (_, i) => (i === 0 ? first : 0));

/** Runs count_first_byte on packets starting with 1, 2, 2; returns counts[1], counts[2] and packets (.bss). */
function runXdp(backend: Backend, verifyFirst: boolean) {
  const obj = object();
  const loaded = loadObjectInto(obj, backend, verifyFirst ? { verify: objectVerifier(obj) } : {});
  const xdp = loaded.programs.get('count_first_byte')!;
  const rets = [1, 2, 2].map((b) => xdp.testRun({ data: packet(b) }).retval);
  const counts = loaded.maps.get('counts')!;
  return { loaded, rets, c1: u64(counts, key32(1)), c2: u64(counts, key32(2)), packets: u64(loaded.maps.get('.bss')!, key32(0)) };
}

describe('tsbpf run FILE.o', () => {
  const file = join(fixtures, 'minimal.bpfel.o');
  const io = (out: string[], err: string[]) => ({
    stdout: (t: string) => void out.push(t), stderr: (t: string) => void err.push(t),
    readFile: (p: string) => new Uint8Array(readFileSync(p)), writeFile: () => {},
  });
  it('runs a program of an object on fresh maps and prints r0; errors are typed', async () => {
    const { main } = await import('./main.js');
    for (const b of ['interp', 'jit-wasm']) {
      const out: string[] = [];
      expect(await main(['run', '-b', b, '--mem', '01 02 03 04 05 06 07 08 09 10 11 12 13 14', file], io(out, []))).toBe(0);
      expect(out.join('')).toBe('0x2\n'); // XDP_PASS
    }
    const out: string[] = [];
    const err: string[] = [];
    expect(await main(['run', '-p', 'nope', file], io(out, err))).toBe(2);
    expect(err.join('')).toContain('programs: count_first_byte, on_openat');
    const be: string[] = [];
    expect(await main(['run', join(fixtures, 'minimal.bpfeb.o')], io([], be))).toBe(1);
    expect(be.join('')).toContain('E_ELF_ENCODING');
  });

  it.runIf(existsSync('/sys/kernel/btf/vmlinux'))('resolves CO-RE relocations against vmlinux (or --btf FILE) and loads only the program asked for', async () => {
    const { main } = await import('./main.js');
    const core = join(fixtures, 'core.bpfel.o');
    // core_task (same object) calls bpf_get_current_task, which only the kernel has: not loaded.
    for (const b of ['interp', 'jit-wasm']) {
      const out: string[] = [];
      const err: string[] = [];
      expect(await main(['run', '-b', b, '-p', 'core_fields', '--mem', '00 '.repeat(64), core], io(out, err)), err.join('')).toBe(0);
      expect(out.join('')).toBe('0x2\n'); // XDP_PASS
    }
    const err: string[] = [];
    expect(await main(['run', '-p', 'core_fields', '--btf', '/nonexistent.btf', core], io([], err))).toBe(1);
    expect(err.join('')).toContain('no target BTF at /nonexistent.btf');
    const bad: string[] = [];
    expect(await main(['run', '-p', 'core_fields', '--btf', core, core], io([], bad))).toBe(1); // an ELF file is not BTF
    expect(bad.join('')).toContain('E_BTF_MAGIC');
  });
});

describe('tsbpf objdump FILE.o', () => {
  it('lists maps, programs and relocations (as llvm-readelf reads them), then the linked code with map annotations', async () => {
    const { main } = await import('./main.js');
    const out: string[] = [];
    const io = { stdout: (t: string) => void out.push(t), stderr: () => {}, readFile: (p: string) => new Uint8Array(readFileSync(p)), writeFile: () => {} };
    expect(await main(['objdump', join(fixtures, 'minimal.bpfel.o')], io)).toBe(0);
    const text = out.join('');
    expect(text).toContain('counts               BPF_MAP_TYPE_HASH            key 4 value 8 max_entries 64  (BTF .maps)');
    expect(text).toContain('on_openat            SEC("tracepoint/syscalls/sys_enter_openat")  BPF_PROG_TYPE_TRACEPOINT -> syscalls/sys_enter_openat  27 slots, 4 map references');
    expect(text).toContain('tracepoint/syscalls/sys_enter_openat+0x0060  R_BPF_64_32    .text');
    expect(text).toContain('; global data .rodata');
    expect(text).toMatch(/call 0x[0-9a-f]+|call pc[+-]\d+|call \d+/);
    // C source lines from .BTF.ext line_info, each before its first instruction, with file:line
    // (the text compared with the .c file itself); the appended subprogram gets its <name>: label.
    const source = readFileSync(join(fixtures, 'minimal.bpf.c'), 'utf8').split('\n');
    const line = source.findIndex((l) => l.includes('return v * factor + seed;')) + 1;
    expect(text).toContain(`; return v * factor + seed;  [minimal.bpf.c:${line}]`);
    expect(text).toMatch(/\n0{14}90 <scale>:\n; return v \* factor \+ seed;/); // slot 18, byte 0x90
  });
});

describe('a clang-built object (minimal.bpf.c) on every backend', () => {
  for (const [name, make] of [['interp', () => new InterpBackend()], ['jit-wasm', () => new JitBackend()]] as const) {
    it(`${name}: verifies (ours), loads, and its XDP and tracepoint programs update the maps and global data`, () => {
      const r = runXdp(make(), true);
      expect(r.rets).toEqual([2n, 2n, 2n]); // XDP_PASS
      expect([r.c1, r.c2, r.packets]).toEqual([1n, 2n, 3n]);
      // on_openat: totals[0] += scale(packets) = packets * factor (.rodata, 3) + seed (.data, 7)
      r.loaded.programs.get('on_openat')!.testRun({});
      expect(u64(r.loaded.maps.get('totals')!, key32(0))).toBe(3n * 3n + 7n);
    });
  }

  const kernel = probe();
  it.runIf(kernel.ok)('the kernel loads the same object and ends with the same maps after the same packets', () => {
    const k = new KernelBackend();
    try {
      const theirs = runXdp(k, false);
      const ours = runXdp(new InterpBackend(), false);
      expect([theirs.c1, theirs.c2, theirs.packets]).toEqual([ours.c1, ours.c2, ours.packets]);
      expect(theirs.rets).toEqual(ours.rets);
    } finally {
      k.close();
    }
  });
  if (!kernel.ok) console.log(`object on the kernel skipped: ${kernel.reason}`);
});

describe('externs (externs.bpf.c): .kconfig filled from a configuration, __ksym reported', () => {
  const obj = () => openObject(new Uint8Array(readFileSync(join(fixtures, 'externs.bpfel.o'))));
  // CONFIG_TSBPF_TRISTATE and CONFIG_TSBPF_ABSENT are __weak and left out: they read as 0.
  const kconfig = { LINUX_KERNEL_VERSION: (6 << 16) | (18 << 8) | 44, CONFIG_BPF_SYSCALL: 'y', CONFIG_HZ: 250, CONFIG_DEFAULT_HOSTNAME: '(none)' };
  const expected = [(6n << 16n) | (18n << 8n) | 44n, 1n, 0n, 250n, BigInt('('.charCodeAt(0)) | (BigInt('n'.charCodeAt(0)) << 8n), 0n];

  it('lays .kconfig out as one map and lists the __ksym variable and the kfunc of the program that uses them', () => {
    const o = obj();
    const kc = o.map('.kconfig')!;
    expect(kc.kconfig!.map((k) => [k.name, k.type, k.size, k.weak])).toEqual([
      ['LINUX_KERNEL_VERSION', 'int', 4, false], ['CONFIG_BPF_SYSCALL', 'bool', 1, false], ['CONFIG_TSBPF_TRISTATE', 'tristate', 4, true],
      ['CONFIG_HZ', 'int', 4, false], ['CONFIG_DEFAULT_HOSTNAME', 'string', 16, false], ['CONFIG_TSBPF_ABSENT', 'int', 8, true],
    ]);
    expect(o.program('ksyms')!.externs.map((e) => [e.name, e.kind])).toEqual([['bpf_prog_active', 'ksym'], ['bpf_task_acquire', 'kfunc']]);
    expect(o.program('kconfig')!.externs).toEqual([]);
    expect(o.program('kernel_syms')!.externs.map((e) => [e.name, e.kind, e.typed, e.weak])).toEqual([
      ['bpf_rcu_read_lock', 'kfunc', true, false], ['bpf_rcu_read_unlock', 'kfunc', true, false], ['_stext', 'ksym', false, false],
      ['tsbpf_no_such_kfunc', 'kfunc', true, true], ['tsbpf_no_such_kfunc', 'kfunc', true, true], // its address, then the call
    ]);
    expect(o.program('typed_ksym')!.externs.map((e) => [e.name, e.kind, e.typed, e.weak])).toEqual([['bpf_prog_active', 'ksym', true, false]]);
  });

  it.runIf(probe().ok)('the kernel: kfuncs, a typed and a typeless __ksym and a missing __weak kfunc resolve as libbpf resolves them, and the program runs', () => {
    const stext = readFileSync('/proc/kallsyms', 'utf8').split('\n').find((l) => l.endsWith(' _stext'))!.split(' ')[0];
    const k = new KernelBackend();
    try {
      const l = loadObjectInto(obj(), k, { kconfig, autoload: ['kernel_syms'], ksyms: kernelSymbols() });
      expect(l.program('kernel_syms').testRun({ data: new Uint8Array(64) }).retval).toBe(2n);
      // _stext's address, and bpf_ksym_exists(tsbpf_no_such_kfunc) false
      expect([u64(l.map('out'), key32(0)), u64(l.map('out'), key32(1))]).toEqual([BigInt(`0x${stext}`), 0n]);
      // A typed ksym becomes BPF_PSEUDO_BTF_ID of its vmlinux VAR: the kernel names the variable from
      // the id we gave; it then needs its address in kallsyms (CONFIG_KALLSYMS_ALL, which this kernel may lack).
      try {
        const t = loadObjectInto(obj(), k, { kconfig, autoload: ['typed_ksym'], ksyms: kernelSymbols() });
        expect(t.program('typed_ksym').testRun({ data: new Uint8Array(64) }).retval).toBe(2n);
        expect(u64(t.map('out'), key32(2))).toBe(1n);
      } catch (e) {
        expect((e as { log?: string }).log).toContain("ldimm64 failed to find the address for kernel symbol 'bpf_prog_active'");
        console.log('typed __ksym: the kernel resolved our BTF id to bpf_prog_active but has no kallsyms address for it (no CONFIG_KALLSYMS_ALL)');
      }
      // A resolver that knows nothing: the first non-weak extern stops the load, named.
      expect(() => loadObjectInto(obj(), new KernelBackend(), { kconfig, autoload: ['kernel_syms'], ksyms: () => undefined })).toThrow(
        expect.objectContaining({ code: 'E_OBJ_EXTERN', message: expect.stringContaining('calls the kfunc bpf_rcu_read_lock, which this kernel does not have') }),
      );
    } finally {
      k.close();
    }
  });

  const backends: [string, () => Backend][] = [['interp', () => new InterpBackend()], ['jit-wasm', () => new JitBackend()]];
  if (probe().ok) backends.push(['kernel', () => new KernelBackend()]);
  for (const [name, make] of backends) {
    it(`${name}: the program reads the values the configuration gave`, () => {
      const b = make();
      try {
        const l = loadObjectInto(obj(), b, { kconfig, autoload: ['kconfig'] });
        expect(l.program('kconfig').testRun({ data: new Uint8Array(64) }).retval).toBe(2n);
        expect(Array.from({ length: 6 }, (_, i) => u64(l.map('out'), key32(i)))).toEqual(expected);
      } finally {
        b.close();
      }
    });
  }

  it('loadObject(bytes, opts).load(backend): the options given at open apply to the load, overridable', () => {
    const o = loadObject(new Uint8Array(readFileSync(join(fixtures, 'externs.bpfel.o'))), { kconfig, autoload: ['kconfig'] });
    const l = o.load(new InterpBackend());
    l.program('kconfig').testRun({ data: new Uint8Array(64) });
    expect(u64(l.map('out'), key32(3))).toBe(250n);
    expect(() => l.program('ksyms')).toThrow(expect.objectContaining({ code: 'E_OBJ_MISSING' })); // not autoloaded
    const again = o.load(new InterpBackend(), { kconfig: { ...kconfig, CONFIG_HZ: 1000 } });
    again.program('kconfig').testRun({ data: new Uint8Array(64) });
    expect(u64(again.map('out'), key32(3))).toBe(1000n);
  });

  it('refuses a missing non-weak CONFIG and a __ksym it cannot resolve, naming the program, insn and C line', () => {
    const { CONFIG_HZ: _, ...noHz } = kconfig;
    expect(() => loadObjectInto(obj(), new InterpBackend(), { kconfig: noHz, autoload: ['kconfig'] })).toThrow(expect.objectContaining({ code: 'E_OBJ_KCONFIG' }));
    expect(() => loadObjectInto(obj(), new InterpBackend(), { kconfig: { ...kconfig, CONFIG_BPF_SYSCALL: 'm' }, autoload: ['kconfig'] })).toThrow(/is a bool/);
    expect(() => loadObjectInto(obj(), new InterpBackend(), { kconfig })).toThrow(
      expect.objectContaining({ code: 'E_OBJ_EXTERN', program: 'ksyms', message: expect.stringMatching(/^ksyms, insn 1 \(externs\.bpf\.c:\d+: .+\): uses the __ksym extern bpf_prog_active, which only a backend with a kernel can resolve/) }),
    );
  });
});

describe('pinning (pinning.bpf.c): LIBBPF_PIN_BY_NAME maps pinned in bpffs and reused', () => {
  const obj = () => openObject(new Uint8Array(readFileSync(join(fixtures, 'pinning.bpfel.o'))));
  const packet = new Uint8Array(64);

  it('reads the pinning of the definition', () => {
    expect(obj().map('tsbpf_pinned')!.pinning).toBe(1);
    expect(obj().map('local')!.pinning).toBeUndefined();
  });

  it('user-space backends have no store to pin in: every load starts from a fresh map', () => {
    for (let i = 0; i < 2; i++) {
      const l = loadObjectInto(obj(), new InterpBackend());
      expect(l.program('bump').testRun({ data: packet }).retval).toBe(1n);
    }
  });

  const kernel = probe();
  const bpffs = existsSync('/sys/fs/bpf') && kernel.ok;
  if (!bpffs) console.log(`pinning on the kernel skipped: ${kernel.ok ? 'no bpffs at /sys/fs/bpf' : kernel.reason}`);
  it.runIf(bpffs)('the kernel: the second load reuses the pinned map (the count goes on), the unpinned one starts over, a mismatch is refused', () => {
    const root = mkdtempSync('/sys/fs/bpf/tsbpf-pin-');
    try {
      const counts: bigint[][] = [];
      for (let i = 0; i < 2; i++) {
        const k = new KernelBackend();
        try {
          const l = loadObjectInto(obj(), k, { pinRoot: root });
          const r = [l.program('bump').testRun({ data: packet }).retval, l.program('bump').testRun({ data: packet }).retval];
          counts.push([...r, u64(l.map('local'), key32(0))!]);
        } finally {
          k.close();
        }
      }
      expect(counts).toEqual([[1n, 2n, 2n], [3n, 4n, 2n]]);
      expect(existsSync(join(root, 'tsbpf_pinned'))).toBe(true);
      expect(existsSync(join(root, 'local'))).toBe(false);
      // Something else pinned under that name: a hash map, not the array the object defines.
      rmSync(join(root, 'tsbpf_pinned'));
      const k = new KernelBackend();
      try {
        (k.createMap({ type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 1 }) as unknown as { pin(p: string): void }).pin(join(root, 'tsbpf_pinned'));
        expect(() => loadObjectInto(obj(), k, { pinRoot: root })).toThrow(
          expect.objectContaining({ code: 'E_OBJ_PIN', message: expect.stringContaining('type 1 (the object wants 2)') }),
        );
      } finally {
        k.close();
      }
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('.rodata as libbpf makes it: BPF_F_RDONLY_PROG, frozen after its contents are written', () => {
  // on_openat with scale()'s read of `factor` (.rodata) turned into a write: r0 = *(u32 *)(r2 + 0)
  // becomes *(u32 *)(r2 + 0) = r1.
  const writing = () => {
    const o = openObject(new Uint8Array(readFileSync(join(fixtures, 'minimal.bpfel.o'))));
    const p = o.program('on_openat')!;
    const slot = p.refs.find((r) => o.maps[r.map].name === '.rodata')!.slot + 2;
    expect(p.code[slot * 8]).toBe(0x61); // ldxw
    p.code[slot * 8] = 0x63; // stxw
    p.code[slot * 8 + 1] = 0x12; // dst r2, src r1
    p.insns = decode(p.code);
    return o;
  };

  it('our verifier refuses the write with the kernel\'s message', () => {
    const o = writing();
    expect(o.map('.rodata')!.spec.flags! & MapFlags.BPF_F_RDONLY_PROG).toBeTruthy();
    expect(() => loadObjectInto(o, new InterpBackend(), { verify: objectVerifier(o), autoload: ['on_openat'] })).toThrow(/write into map forbidden, value_size=4 off=0 size=4/);
  });

  it.runIf(probe().ok)('the kernel refuses it the same way, and the .rodata map it made is frozen', () => {
    const k = new KernelBackend();
    try {
      expect(() => loadObjectInto(writing(), k, { autoload: ['on_openat'] })).toThrow(expect.objectContaining({ log: expect.stringContaining('write into map forbidden, value_size=4 off=0 size=4') }));
      const l = loadObjectInto(object(), k);
      expect(() => l.map('.rodata').update(new Uint8Array(4), new Uint8Array(4))).toThrow(expect.objectContaining({ errno: 1 })); // EPERM: frozen
    } finally {
      k.close();
    }
  });
});
