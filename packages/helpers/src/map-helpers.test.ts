// bpf_map_push_elem / pop_elem / peek_elem and maps of maps through the Runtime's helper ABI:
// guest pointers in, the kernel's errno out; the map a map-of-maps lookup returns is the one
// helpers take as their map argument; a map an outer map holds outlives its descriptor.
import { describe, expect, it } from 'vitest';
import { MapFlags, MapType, assembleLlvm } from '@tsbpf/core';
import { Runtime } from './runtime.js';
import { callHelper } from './test-support/call.js';

const call = (rt: Runtime, name: string, ...args: (number | bigint)[]): bigint => BigInt.asIntN(64, callHelper(rt, name, ...args));
const le32 = (n: number) => Uint8Array.of(n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24);

describe('push, pop and peek helpers', () => {
  it('queue and stack: the values, E2BIG, BPF_EXIST, EINVAL flags, and a zeroed buffer with ENOENT when empty', () => {
    const rt = new Runtime();
    const q = rt.createMap({ type: MapType.Queue, keySize: 0, valueSize: 4, maxEntries: 2 });
    const s = rt.createMap({ type: MapType.Stack, keySize: 0, valueSize: 4, maxEntries: 2 });
    const buf = rt.space.alloc(4);
    const put = (m: number, v: number, flags = 0) => {
      rt.space.view.setUint32(buf, v, true);
      return call(rt, 'bpf_map_push_elem', m, buf, flags);
    };
    const get = (name: 'bpf_map_pop_elem' | 'bpf_map_peek_elem', m: number) => {
      rt.space.view.setUint32(buf, 0xffffffff, true);
      return [call(rt, name, m, buf), rt.space.view.getUint32(buf, true)];
    };
    for (const m of [q, s]) expect([put(m.ptr, 1), put(m.ptr, 2), put(m.ptr, 3), put(m.ptr, 4, 2), put(m.ptr, 5, 1), put(m.ptr, 5, 3)]).toEqual([0n, 0n, -7n, 0n, -22n, -22n]);
    expect([get('bpf_map_peek_elem', q.ptr), get('bpf_map_pop_elem', q.ptr), get('bpf_map_pop_elem', q.ptr), get('bpf_map_pop_elem', q.ptr)]).toEqual([[0n, 2], [0n, 2], [0n, 4], [-2n, 0]]);
    expect([get('bpf_map_pop_elem', s.fd), get('bpf_map_peek_elem', s.fd), get('bpf_map_pop_elem', s.fd), get('bpf_map_peek_elem', s.fd)]).toEqual([[0n, 4], [0n, 2], [0n, 2], [-2n, 0]]);
  });

  it('bloom filter: push adds, peek tests the value it is given (0 or -ENOENT), pop is -EOPNOTSUPP; other maps -EINVAL', () => {
    const rt = new Runtime();
    const f = rt.createMap({ type: MapType.BloomFilter, keySize: 0, valueSize: 4, maxEntries: 64, flags: MapFlags.BPF_F_ZERO_SEED });
    const h = rt.createMap({ type: MapType.Hash, keySize: 4, valueSize: 4, maxEntries: 4 });
    const buf = rt.space.alloc(4);
    rt.space.view.setUint32(buf, 42, true);
    expect([call(rt, 'bpf_map_peek_elem', f.ptr, buf), call(rt, 'bpf_map_push_elem', f.ptr, buf, 2), call(rt, 'bpf_map_push_elem', f.ptr, buf, 0), call(rt, 'bpf_map_peek_elem', f.ptr, buf)]).toEqual([-2n, -22n, 0n, 0n]);
    expect(rt.space.view.getUint32(buf, true)).toBe(42);
    expect(call(rt, 'bpf_map_pop_elem', f.ptr, buf)).toBe(-95n);
    expect([call(rt, 'bpf_map_push_elem', h.ptr, buf, 0), call(rt, 'bpf_map_pop_elem', h.ptr, buf), call(rt, 'bpf_map_peek_elem', h.ptr, buf)]).toEqual([-22n, -22n, -22n]);
    expect(() => rt.checkProgram(assembleLlvm('call bpf_map_push_elem\ncall bpf_map_pop_elem\ncall bpf_map_peek_elem\nexit').insns)).not.toThrow();
  });
});

describe('maps of maps in the runtime', () => {
  it('an outer lookup gives the inner map\'s struct bpf_map stand-in, which helpers take as the map; user space reads ids', () => {
    const rt = new Runtime();
    const inner = rt.createMap({ type: MapType.Array, keySize: 4, valueSize: 8, maxEntries: 4 });
    const outer = rt.createMap({ type: MapType.ArrayOfMaps, keySize: 4, valueSize: 4, maxEntries: 2, innerMap: inner.spec });
    expect([inner.id, outer.id].every((id) => id > 0) && inner.id !== outer.id).toBe(true);
    outer.update(le32(1), le32(inner.fd));
    expect(outer.lookup(le32(1))).toEqual(le32(inner.id));
    const key = rt.space.alloc(4);
    rt.space.view.setUint32(key, 1, true);
    const got = call(rt, 'bpf_map_lookup_elem', outer.ptr, key);
    expect(Number(got)).toBe(inner.ptr);
    expect(rt.mapArg(Number(got))).toBe(inner);
    const value = Number(call(rt, 'bpf_map_lookup_elem', got, key));
    rt.space.view.setBigUint64(value, 77n, true);
    expect(inner.lookup(le32(1))).toEqual(Uint8Array.of(77, 0, 0, 0, 0, 0, 0, 0));
    rt.space.view.setUint32(key, 0, true);
    expect(call(rt, 'bpf_map_lookup_elem', outer.ptr, key)).toBe(0n);
    // programs cannot change the outer map (the verifier refuses it too)
    expect(call(rt, 'bpf_map_update_elem', outer.ptr, key, key, 0)).toBe(-22n);
  });

  it('a map an outer map holds outlives its descriptor, and is freed when the outer map lets go', () => {
    const rt = new Runtime();
    const spec = { type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 4 };
    const inner = rt.createMap(spec);
    const outer = rt.createMap({ type: MapType.HashOfMaps, keySize: 4, valueSize: 4, maxEntries: 2, innerMap: spec });
    outer.update(le32(5), le32(inner.fd));
    rt.closeMap(inner.fd);
    expect(rt.map(inner.fd)).toBeUndefined();
    expect(rt.mapArg(inner.ptr)).toBe(inner); // programs reaching it through the outer map still can
    expect(() => outer.update(le32(6), le32(inner.fd))).toThrow(expect.objectContaining({ code: 'EBADF' }));
    outer.delete(le32(5));
    expect(rt.mapArg(inner.ptr)).toBeUndefined();
  });
});
