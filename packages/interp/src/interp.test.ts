import { describe, expect, it } from 'vitest';
import { MapType, ProgType, assembleLlvm } from '@tsbpf/core';
import { KernelBackend, probe } from '@tsbpf/kernel';
import { describePluginSuite, describeRuntimeSuite, expectRuntimeError, selfTailCall } from '@tsbpf/testkit';
import { AddressSpace } from '@tsbpf/maps';
import { InterpBackend } from './backend.js';

const asm = (s: string) => assembleLlvm(s).insns;

describe('strict mode (the verifier soundness checks run the interpreter this way)', () => {
  const b = new InterpBackend();

  it('strict mode refuses accesses outside live regions', () => {
    const rt = new InterpBackend({ space: new AddressSpace({ strict: true }) });
    expectRuntimeError(() => rt.runRaw(asm('r0 = *(u8 *)(r1 + 8)\nexit'), new Uint8Array(8)), 'E_MEM_FAULT', 0);
    expect(rt.runRaw(asm('r0 = *(u8 *)(r1 + 7)\nexit'), Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 9)).r0).toBe(9n);
  });

  it('strict mode: each call frame is its own region, the packet ends at data_end, helper memory arguments are checked', () => {
    const sb = new InterpBackend({ space: new AddressSpace({ strict: true }) });
    // a callee reading below its 512-byte frame does not land in its caller's
    expectRuntimeError(() => sb.runRaw(asm('call f\nexit\nf:\nr0 = *(u64 *)(r10 - 520)\nexit'), new Uint8Array()), 'E_MEM_FAULT', 2);
    expect(b.runRaw(asm('call f\nexit\nf:\nr0 = *(u64 *)(r10 - 520)\nexit'), new Uint8Array()).r0).toBe(0n);
    // XDP: one byte past data_end is tailroom, allocated for bpf_xdp_adjust_tail but not the program's
    const past = asm('r2 = *(u32 *)(r1 + 4)\nr0 = *(u8 *)(r2 + 0)\nexit');
    expectRuntimeError(() => sb.load({ insns: past, progType: ProgType.Xdp }).testRun({ data: new Uint8Array(14) }), 'E_MEM_FAULT', 1);
    expect(b.load({ insns: past, progType: ProgType.Xdp }).testRun({ data: new Uint8Array(14) }).retval).toBe(0n);
    // bpf_map_lookup_elem with a 4-byte key on the stack for an 8-byte key
    const m = sb.createMap({ type: MapType.Hash, keySize: 8, valueSize: 8, maxEntries: 1 });
    const lookup = asm(`r2 = r10\nr2 += -4\nr1 = map_fd(${m.fd}) ll\ncall bpf_map_lookup_elem\nexit`);
    expectRuntimeError(() => sb.runRaw(lookup, new Uint8Array()), 'E_MEM_FAULT', 4);
  });
});

describeRuntimeSuite('interp', () => new InterpBackend());

describe('tail calls', () => {
  it('the kernel agrees: a self tail call runs 1 + 33 times (where the kernel is reachable)', () => {
    const b = new InterpBackend();
    const counts = b.createMap({ type: MapType.Array, keySize: 4, valueSize: 8, maxEntries: 1 });
    const progs = b.createMap({ type: MapType.ProgArray, keySize: 4, valueSize: 4, maxEntries: 1 });
    const p = b.load({ insns: selfTailCall(counts.fd, progs.fd), progType: ProgType.SocketFilter });
    progs.update(new Uint8Array(4), Uint8Array.of(p.fd, 0, 0, 0));
    expect(p.testRun({ data: new Uint8Array(64) }).retval).toBe(7n);
    const ours = new DataView(counts.lookup(new Uint8Array(4))!.buffer).getBigUint64(0, true);
    let expected = 34n;
    if (probe().ok) {
      const k = new KernelBackend();
      try {
        const kc = k.createMap({ type: MapType.Array, keySize: 4, valueSize: 8, maxEntries: 1 });
        const kp = k.createMap({ type: MapType.ProgArray, keySize: 4, valueSize: 4, maxEntries: 1 });
        const prog = k.load({ insns: selfTailCall(kc.fd, kp.fd), progType: ProgType.SocketFilter });
        const v = new Uint8Array(4);
        new DataView(v.buffer).setUint32(0, prog.fd, true);
        kp.update(new Uint8Array(4), v);
        prog.testRun({ data: new Uint8Array(64) });
        expected = new DataView(kc.lookup(new Uint8Array(4))!.buffer).getBigUint64(0, true);
      } finally {
        k.close();
      }
    }
    expect(ours).toBe(expected);
    expect(ours).toBe(34n);
  });
});

describePluginSuite('interp', []);
