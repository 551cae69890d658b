import { type Backend, type MapSpec, type ProgramSpec } from '@tsbpf/core';
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

  createMap(spec: MapSpec, opts: { innerMap?: KernelMap } = {}): KernelMap {
    const m = new KernelMap(spec, { innerMapFd: opts.innerMap?.fd });
    this.owned.add(m);
    return m;
  }

  load(spec: ProgramSpec, opts: KernelLoadOptions = {}): KernelProgram {
    const p = loadProgram(spec, opts);
    this.owned.add(p);
    return p;
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
  }
}
