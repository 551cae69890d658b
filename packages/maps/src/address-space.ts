import { TsbpfError } from '@tsbpf/core';

const WASM_PAGE = 65536;
/** Guest addresses below this are never allocated, so 0 (and small offsets from it) is NULL. */
export const NULL_GUARD = 4096;
/**
 * In strict mode, bytes left unallocated after each region, so an access that runs off the end of
 * one region faults instead of landing in the next one.
 */
export const STRICT_GUARD = 256;

/** A live allocation in the address space. */
export interface Region {
  start: number;
  size: number;
  /** What it holds: `stack`, `ctx`, `packet`, `map:<name>`, ... (for messages and strict mode). */
  tag: string;
  /** The part strict mode lets programs access, when {@link AddressSpace.window} narrowed it. */
  window?: { from: number; to: number };
}

/** Options of {@link AddressSpace}. */
export interface AddressSpaceOptions {
  /** Initial size in 64 KiB pages (default 16 = 1 MiB). */
  initialPages?: number;
  /** Maximum size in pages (default 65536 = 4 GiB, the wasm32 limit). */
  maximumPages?: number;
  /** Back the memory by a SharedArrayBuffer, for backends running on several workers. */
  shared?: boolean;
  /**
   * Know live regions, so {@link AddressSpace.check} can refuse accesses outside them, and keep
   * {@link STRICT_GUARD} free bytes between regions.
   */
  strict?: boolean;
}

/**
 * The one guest address space of DESIGN.md: a `WebAssembly.Memory` in which stack frames, contexts,
 * packets, map values and ring buffers are regions. A guest pointer is the byte offset in the
 * memory, so every live pointer is below 2^32 and the JIT can use it with one `i32.wrap_i64`.
 */
export class AddressSpace {
  readonly memory: WebAssembly.Memory;
  readonly strict: boolean;
  /** Views over the memory; replaced when it grows. */
  bytes: Uint8Array;
  view: DataView;
  private top = NULL_GUARD;
  private readonly regions = new Map<number, Region>();
  private readonly freeBySize = new Map<number, number[]>();
  private sorted: number[] | undefined;

  constructor(opts: AddressSpaceOptions = {}) {
    const maximum = opts.maximumPages ?? 65536;
    this.memory = new WebAssembly.Memory({ initial: opts.initialPages ?? 16, maximum, shared: opts.shared ?? false } as WebAssembly.MemoryDescriptor);
    this.strict = opts.strict ?? false;
    this.bytes = new Uint8Array(this.memory.buffer);
    this.view = new DataView(this.memory.buffer);
  }

  /** Size of the memory in bytes. */
  get size(): number {
    return this.memory.buffer.byteLength;
  }

  private refresh(): void {
    this.bytes = new Uint8Array(this.memory.buffer);
    this.view = new DataView(this.memory.buffer);
  }

  /**
   * Allocates `size` bytes (zeroed), aligned to 8 (or to a page for page-sized requests).
   * @throws TsbpfError `E_NOMEM` when the memory cannot grow enough.
   */
  alloc(size: number, tag = 'data'): number {
    if (!Number.isInteger(size) || size <= 0) throw new TsbpfError('E_ALLOC', `cannot allocate ${size} bytes`);
    const rounded = size >= 4096 ? Math.ceil(size / 4096) * 4096 : Math.ceil(size / 8) * 8;
    let start = this.freeBySize.get(rounded)?.pop();
    if (start === undefined) {
      const align = rounded >= 4096 ? 4096 : 8;
      start = Math.ceil(this.top / align) * align;
      const end = start + rounded;
      if (end > this.size) {
        const need = Math.ceil((end - this.size) / WASM_PAGE);
        try {
          this.memory.grow(need);
        } catch {
          throw new TsbpfError('E_NOMEM', `the guest address space cannot grow to ${end} bytes (${tag})`);
        }
        this.refresh();
      }
      this.top = end + (this.strict ? STRICT_GUARD : 0);
    } else {
      this.bytes.fill(0, start, start + rounded);
    }
    const region: Region = { start, size: rounded, tag };
    // Strict mode refuses the rounding slack too: a 12-byte context is 12 bytes.
    if (this.strict && rounded !== size) region.window = { from: start, to: start + size };
    this.regions.set(start, region);
    this.sorted = undefined;
    return start;
  }

  /** Frees a region {@link alloc} returned. */
  free(addr: number): void {
    const r = this.regions.get(addr);
    if (!r) throw new TsbpfError('E_FREE', `0x${addr.toString(16)} is not the start of a live region`);
    this.regions.delete(addr);
    this.sorted = undefined;
    const list = this.freeBySize.get(r.size);
    if (list) list.push(addr);
    else this.freeBySize.set(r.size, [addr]);
  }

  /** The live region containing `addr`, if any. */
  regionOf(addr: number): Region | undefined {
    this.sorted ??= [...this.regions.keys()].sort((a, b) => a - b);
    const s = this.sorted;
    let lo = 0;
    let hi = s.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (s[mid] <= addr) lo = mid + 1;
      else hi = mid - 1;
    }
    if (hi < 0) return undefined;
    const r = this.regions.get(s[hi])!;
    return addr < r.start + r.size ? r : undefined;
  }

  /**
   * Whether `[addr, addr + len)` may be accessed: inside the memory and above the NULL page; in
   * strict mode, also inside one live region (inside its window, when it has one).
   */
  check(addr: number, len: number): boolean {
    if (addr < NULL_GUARD || addr + len > this.size || len < 0) return false;
    if (!this.strict) return true;
    const r = this.regionOf(addr);
    if (r === undefined) return false;
    const w = r.window;
    return w ? addr >= w.from && addr + len <= w.to : addr + len <= r.start + r.size;
  }

  /**
   * Narrows what strict mode lets programs access in the live region at `start` to
   * `[from, to)`: the rest stays allocated but is refused, like a packet's headroom and tailroom,
   * which only helpers (`bpf_xdp_adjust_head`, ...) may move `data` and `data_end` into.
   */
  window(start: number, from: number, to: number): void {
    const r = this.regions.get(start);
    if (!r) throw new TsbpfError('E_FREE', `0x${start.toString(16)} is not the start of a live region`);
    r.window = { from: Math.max(from, r.start), to: Math.min(to, r.start + r.size) };
  }

  /** Copies bytes into guest memory. */
  write(addr: number, data: Uint8Array): void {
    this.bytes.set(data, addr);
  }

  /** Copies `len` bytes out of guest memory. */
  read(addr: number, len: number): Uint8Array {
    return this.bytes.slice(addr, addr + len);
  }
}
