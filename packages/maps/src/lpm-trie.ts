import { Errno, MapError, TsbpfError, UpdateFlags, type MapSpec } from '@tsbpf/core';
import type { AddressSpace } from './address-space.js';
import { BpfMap } from './map.js';

/** A trie node: a prefix, and a value unless it is an intermediate node that only splits two subtrees. */
interface Node {
  prefixlen: number;
  /** The key's data bytes as given (the bits past `prefixlen` are kept, as the kernel keeps them). */
  data: Uint8Array;
  /** Intermediate (`LPM_TREE_NODE_FLAG_IM`): no value, never returned. */
  im: boolean;
  /** Guest address of the value (0 for an intermediate node). */
  value: number;
  child: [Node | undefined, Node | undefined];
}

/** Where a node hangs: a parent's child slot, or the root when `parent` is undefined. */
interface Slot {
  parent: Node | undefined;
  dir: 0 | 1;
}

/** Bit `index` of the data at `data[at]`, most significant bit of its byte 0 first (network order). */
const bitAt = (data: Uint8Array, index: number, at = 0): 0 | 1 => ((data[at + (index >> 3)] >> (7 - (index & 7))) & 1) as 0 | 1;

/**
 * `BPF_MAP_TYPE_LPM_TRIE`: longest-prefix match over keys `struct { u32 prefixlen; u8 data[]; }`
 * (data in network order), created with `BPF_F_NO_PREALLOC` as the kernel requires. It is the
 * kernel's trie (kernel/bpf/lpm_trie.c): a binary tree of prefixes in which intermediate nodes
 * split two subtrees, so lookups, updates, deletes and `get_next_key`'s order (post-order: more
 * specific prefixes before the ones containing them) are the kernel's.
 *
 * - lookup of a key (usually `prefixlen` = the full width): the value of the longest stored prefix
 *   containing it; `prefixlen` larger than the data is no match.
 * - update of an exact prefix: `BPF_NOEXIST` (`EEXIST`) and `BPF_EXIST` (`ENOENT`) as for hash
 *   maps, `ENOSPC` when `max_entries` prefixes are stored; delete of an exact prefix (`ENOENT`).
 * - lookup-and-delete is `ENOTSUPP`, as in the kernel.
 *
 * Each value is its own region of the address space, so `lookupAddr` gives programs a pointer to
 * it. An update of an existing prefix rewrites the value in place (the kernel swaps in a new node).
 *
 * @example
 * ```ts
 * const t = createMap({ type: 'BPF_MAP_TYPE_LPM_TRIE', keySize: 8, valueSize: 4, maxEntries: 16, flags: BPF_F_NO_PREALLOC });
 * t.update(Uint8Array.of(8, 0, 0, 0, 10, 0, 0, 0), Uint8Array.of(1, 0, 0, 0));    // 10.0.0.0/8 -> 1
 * t.lookup(Uint8Array.of(32, 0, 0, 0, 10, 1, 2, 3));                             // [1, 0, 0, 0]
 * ```
 */
export class LpmTrieMap extends BpfMap {
  /** Bytes of data after `prefixlen`. */
  readonly dataSize: number;
  /** The longest prefix: `dataSize * 8` bits. */
  readonly maxPrefixlen: number;
  private root: Node | undefined;
  private entries = 0;

  constructor(space: AddressSpace, spec: MapSpec) {
    super(space, spec);
    this.dataSize = spec.keySize - 4;
    this.maxPrefixlen = this.dataSize * 8;
  }

  /** Number of prefixes stored. */
  get count(): number {
    return this.entries;
  }

  /** Leading bits `node` and the key have in common, at most both prefix lengths (`longest_prefix_match`). */
  private matchLen(node: Node, data: Uint8Array, at: number, prefixlen: number): number {
    const limit = Math.min(node.prefixlen, prefixlen);
    let bits = 0;
    for (let i = 0; i < this.dataSize && bits < limit; i++) {
      const diff = node.data[i] ^ data[at + i];
      if (diff) return Math.min(bits + Math.clz32(diff) - 24, limit);
      bits += 8;
    }
    return Math.min(bits, limit);
  }

  /** The node holding the longest prefix that contains the key, if any (`trie_lookup_elem`). */
  private find(prefixlen: number, data: Uint8Array, at: number): Node | undefined {
    if (prefixlen > this.maxPrefixlen) return undefined;
    let found: Node | undefined;
    for (let node = this.root; node; ) {
      const m = this.matchLen(node, data, at, prefixlen);
      if (m === this.maxPrefixlen) return node;
      if (m < node.prefixlen) break;
      if (!node.im) found = node;
      node = node.child[bitAt(data, node.prefixlen, at)];
    }
    return found;
  }

  private splitKey(key: Uint8Array): { prefixlen: number; data: Uint8Array } {
    this.checkKey(key);
    return { prefixlen: new DataView(key.buffer, key.byteOffset, 4).getUint32(0, true), data: key.subarray(4) };
  }

  lookup(key: Uint8Array): Uint8Array | undefined {
    const { prefixlen, data } = this.splitKey(key);
    const node = this.find(prefixlen, data, 0);
    return node ? this.space.read(node.value, this.spec.valueSize) : undefined;
  }

  lookupAddr(keyAddr: number): number {
    const prefixlen = this.space.view.getUint32(keyAddr, true);
    return this.find(prefixlen, this.space.bytes, keyAddr + 4)?.value ?? 0;
  }

  private setSlot(slot: Slot, node: Node | undefined): void {
    if (slot.parent) slot.parent.child[slot.dir] = node;
    else this.root = node;
  }

  /** A region for one value, as the kernel allocates a node (`ENOMEM` when the space cannot grow). */
  private allocValue(value: Uint8Array): number {
    let addr: number;
    try {
      addr = this.space.alloc(this.spec.valueSize, `map:${this.name}`);
    } catch (e) {
      if (e instanceof TsbpfError) throw new MapError(Errno.ENOMEM, `cannot allocate an LPM trie node: ${e.message}`, { cause: e });
      throw e;
    }
    this.space.write(addr, value);
    return addr;
  }

  /** `trie_check_add_elem`: may one more prefix be added with these flags? */
  private checkAdd(flags: number): void {
    if (flags === UpdateFlags.BPF_EXIST) throw new MapError(Errno.ENOENT, 'the prefix does not exist (BPF_EXIST)');
    if (this.entries === this.spec.maxEntries) throw new MapError(Errno.ENOSPC, `the trie is full (max_entries ${this.spec.maxEntries})`);
  }

  update(key: Uint8Array, value: Uint8Array, flags: number = UpdateFlags.BPF_ANY): void {
    const { prefixlen, data } = this.splitKey(key);
    this.checkFlags(flags);
    this.checkValue(value);
    if (prefixlen > this.maxPrefixlen) throw new MapError(Errno.EINVAL, `prefixlen ${prefixlen} is longer than the key's ${this.maxPrefixlen} bits`);
    // Walk down while the node's prefix is a strict prefix of the key.
    const slot: Slot = { parent: undefined, dir: 0 };
    let node = this.root;
    let m = 0;
    while (node) {
      m = this.matchLen(node, data, 0, prefixlen);
      if (node.prefixlen !== m || node.prefixlen === prefixlen) break;
      slot.parent = node;
      slot.dir = bitAt(data, node.prefixlen);
      node = node.child[slot.dir];
    }
    const fresh = (): Node => ({ prefixlen, data: data.slice(), im: false, value: 0, child: [undefined, undefined] });
    if (node && node.prefixlen === m) {
      // the exact prefix: replace the value (or give an intermediate node one)
      if (!node.im && flags === UpdateFlags.BPF_NOEXIST) throw new MapError(Errno.EEXIST, 'the prefix exists (BPF_NOEXIST)');
      if (node.im) {
        this.checkAdd(flags);
        node.value = this.allocValue(value);
        node.im = false;
        this.entries++;
      } else this.space.write(node.value, value);
      node.data = data.slice();
      return;
    }
    this.checkAdd(flags);
    const added = fresh();
    added.value = this.allocValue(value);
    this.entries++;
    if (!node) this.setSlot(slot, added);
    else if (m === prefixlen) {
      // the new prefix contains the node's: it goes between the slot and the node
      added.child[bitAt(node.data, m)] = node;
      this.setSlot(slot, added);
    } else {
      // they part after m bits: an intermediate node of m bits holds both
      const im: Node = { prefixlen: m, data: node.data.slice(), im: true, value: 0, child: [undefined, undefined] };
      const right = bitAt(data, m);
      im.child[right] = added;
      im.child[right ^ 1] = node;
      this.setSlot(slot, im);
    }
  }

  delete(key: Uint8Array): void {
    const { prefixlen, data } = this.splitKey(key);
    if (prefixlen > this.maxPrefixlen) throw new MapError(Errno.EINVAL, `prefixlen ${prefixlen} is longer than the key's ${this.maxPrefixlen} bits`);
    const slot: Slot = { parent: undefined, dir: 0 };
    let parentSlot: Slot = slot;
    let node = this.root;
    let m = 0;
    while (node) {
      m = this.matchLen(node, data, 0, prefixlen);
      if (node.prefixlen !== m || node.prefixlen === prefixlen) break;
      parentSlot = { ...slot };
      slot.parent = node;
      slot.dir = bitAt(data, node.prefixlen);
      node = node.child[slot.dir];
    }
    if (!node || node.prefixlen !== prefixlen || node.prefixlen !== m || node.im) throw new MapError(Errno.ENOENT, 'no such prefix');
    this.entries--;
    this.space.free(node.value);
    node.value = 0;
    const parent = slot.parent;
    if (node.child[0] && node.child[1]) {
      // two subtrees: the node stays, as an intermediate one
      node.im = true;
    } else if (parent?.im && !node.child[0] && !node.child[1]) {
      // a leaf under an intermediate node: the sibling takes the intermediate node's place
      this.setSlot(parentSlot, parent.child[slot.dir ^ 1]);
    } else {
      this.setSlot(slot, node.child[0] ?? node.child[1]);
    }
  }

  /** The first node in post-order under `node` (its leftmost deepest real node). */
  private leftmost(node: Node | undefined): Node | undefined {
    let next: Node | undefined;
    while (node) {
      if (node.im) node = node.child[0];
      else {
        next = node;
        node = node.child[0] ?? node.child[1];
      }
    }
    return next;
  }

  /**
   * `get_next_key`, in the kernel's post-order: for 192.168.0.0/16 holding /24s at .0, .1 and
   * .128, the three /24s, then the /16. No key, or one not stored, gives the first key.
   */
  nextKey(key?: Uint8Array): Uint8Array | undefined {
    if (!this.root) return undefined;
    const next = key === undefined ? this.leftmost(this.root) : this.successor(key);
    if (!next) return undefined;
    const out = new Uint8Array(this.spec.keySize);
    new DataView(out.buffer).setUint32(0, next.prefixlen, true);
    out.set(next.data, 4);
    return out;
  }

  private successor(key: Uint8Array): Node | undefined {
    const { prefixlen, data } = this.splitKey(key);
    if (prefixlen > this.maxPrefixlen) return this.leftmost(this.root);
    const path: Node[] = [];
    let node = this.root;
    let m = 0;
    while (node) {
      path.push(node);
      m = this.matchLen(node, data, 0, prefixlen);
      if (node.prefixlen !== m || node.prefixlen === prefixlen) break;
      node = node.child[bitAt(data, node.prefixlen)];
    }
    if (!node || node.prefixlen !== m || node.im) return this.leftmost(this.root);
    // the exact node: its post-order successor is the leftmost of the right sibling's subtree, else the first real ancestor
    for (let i = path.length - 1; i > 0; i--) {
      const parent = path[i - 1];
      if (parent.child[0] === path[i] && parent.child[1]) return this.leftmost(parent.child[1]);
      if (!parent.im) return parent;
    }
    return undefined;
  }

  close(): void {
    const stack = this.root ? [this.root] : [];
    while (stack.length) {
      const n = stack.pop()!;
      if (n.value) this.space.free(n.value);
      for (const c of n.child) if (c) stack.push(c);
    }
    this.root = undefined;
    this.entries = 0;
  }
}
