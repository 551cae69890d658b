import { existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { type Backend, type MapSpec, type ProgramSpec } from '@tsbpf/core';
import { loadBtf, type KernelBtf } from './btf-load.js';
import { KernelMap } from './map.js';
import { loadProgram, type KernelLoadOptions, type KernelProgram } from './program.js';

/**
 * The real kernel as a {@link Backend}: maps are kernel maps, programs go through the kernel's
 * verifier and JIT, test runs use `BPF_PROG_TEST_RUN`. Everything it creates is released by
 * `close()` (and by the kernel when the process exits, since all of it is file descriptors).
 */
export class KernelBackend implements Backend {
  readonly name = 'kernel';
  private readonly owned = new Set<{ close(): void }>();
  /** Loaded BTF by a digest of its bytes: the programs of one object share one. */
  private readonly btfs = new Map<string, KernelBtf>();

  /**
   * Creates a map. A map of maps needs an inner map as its template (`inner_map_fd`): `opts.innerMap`,
   * else one made from `spec.innerMap` for the call and closed after it, as libbpf does.
   */
  createMap(spec: MapSpec, opts: { innerMap?: KernelMap } = {}): KernelMap {
    const template = opts.innerMap ?? (spec.innerMap ? new KernelMap(spec.innerMap) : undefined);
    try {
      const m = new KernelMap(spec, { innerMapFd: template?.fd });
      this.owned.add(m);
      return m;
    } finally {
      if (template && !opts.innerMap) template.close();
    }
  }

  /** The map pinned at `path` in bpffs (`BPF_OBJ_GET`), or `undefined` when nothing is there. */
  openPinnedMap(path: string): KernelMap | undefined {
    if (!existsSync(path)) return undefined;
    const m = KernelMap.fromPinned(path);
    this.owned.add(m);
    return m;
  }

  /**
   * Loads a program. With `spec.btf`, its BTF is loaded once per distinct blob (see
   * {@link KernelBackend.loadBtf}) and the program's BTF.ext records go with it.
   */
  load(spec: ProgramSpec, opts: KernelLoadOptions = {}): KernelProgram {
    const btf = opts.btf ?? (spec.btf ? this.loadBtf(spec.btf.data) : undefined);
    const p = loadProgram(spec, { ...opts, ...(btf ? { btf } : {}) });
    this.owned.add(p);
    return p;
  }

  /**
   * `BPF_BTF_LOAD` of `data`, or the BTF this backend already loaded with the same bytes, so the
   * N programs of an object share one BTF object in the kernel; it is closed with the backend.
   *
   * @throws BtfLoadError with the kernel's BTF log when the kernel rejects it.
   */
  loadBtf(data: Uint8Array): KernelBtf {
    const key = createHash('sha256').update(data).digest('hex');
    let btf = this.btfs.get(key);
    if (!btf) {
      btf = this.own(loadBtf(data));
      this.btfs.set(key, btf);
    }
    return btf;
  }

  /** Registers something else to release on close (links, perf events, readers). */
  own<T extends { close(): void }>(thing: T): T {
    this.owned.add(thing);
    return thing;
  }

  close(): void {
    for (const t of [...this.owned].reverse()) {
      try {
        t.close();
      } catch {
        // Closing is best effort: one failure must not leak the rest.
      }
    }
    this.owned.clear();
    this.btfs.clear();
  }
}
