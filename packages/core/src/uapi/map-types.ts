import { enumFromName } from './names.js';

/**
 * The kernel's `enum bpf_map_type` (`include/uapi/linux/bpf.h`), with the kernel's numbering: values
 * pass straight through to bpf(). Names are the kernel names without `BPF_MAP_TYPE_`, in CamelCase.
 */
export enum MapType {
  /** `BPF_MAP_TYPE_UNSPEC` */
  Unspec = 0,
  /** `BPF_MAP_TYPE_HASH` */
  Hash = 1,
  /** `BPF_MAP_TYPE_ARRAY` */
  Array = 2,
  /** `BPF_MAP_TYPE_PROG_ARRAY` */
  ProgArray = 3,
  /** `BPF_MAP_TYPE_PERF_EVENT_ARRAY` */
  PerfEventArray = 4,
  /** `BPF_MAP_TYPE_PERCPU_HASH` */
  PercpuHash = 5,
  /** `BPF_MAP_TYPE_PERCPU_ARRAY` */
  PercpuArray = 6,
  /** `BPF_MAP_TYPE_STACK_TRACE` */
  StackTrace = 7,
  /** `BPF_MAP_TYPE_CGROUP_ARRAY` */
  CgroupArray = 8,
  /** `BPF_MAP_TYPE_LRU_HASH` */
  LruHash = 9,
  /** `BPF_MAP_TYPE_LRU_PERCPU_HASH` */
  LruPercpuHash = 10,
  /** `BPF_MAP_TYPE_LPM_TRIE` */
  LpmTrie = 11,
  /** `BPF_MAP_TYPE_ARRAY_OF_MAPS` */
  ArrayOfMaps = 12,
  /** `BPF_MAP_TYPE_HASH_OF_MAPS` */
  HashOfMaps = 13,
  /** `BPF_MAP_TYPE_DEVMAP` */
  Devmap = 14,
  /** `BPF_MAP_TYPE_SOCKMAP` */
  Sockmap = 15,
  /** `BPF_MAP_TYPE_CPUMAP` */
  Cpumap = 16,
  /** `BPF_MAP_TYPE_XSKMAP` */
  Xskmap = 17,
  /** `BPF_MAP_TYPE_SOCKHASH` */
  Sockhash = 18,
  /** `BPF_MAP_TYPE_CGROUP_STORAGE` */
  CgroupStorage = 19,
  /** `BPF_MAP_TYPE_REUSEPORT_SOCKARRAY` */
  ReuseportSockarray = 20,
  /** `BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE` */
  PercpuCgroupStorage = 21,
  /** `BPF_MAP_TYPE_QUEUE` */
  Queue = 22,
  /** `BPF_MAP_TYPE_STACK` */
  Stack = 23,
  /** `BPF_MAP_TYPE_SK_STORAGE` */
  SkStorage = 24,
  /** `BPF_MAP_TYPE_DEVMAP_HASH` */
  DevmapHash = 25,
  /** `BPF_MAP_TYPE_STRUCT_OPS` */
  StructOps = 26,
  /** `BPF_MAP_TYPE_RINGBUF` */
  Ringbuf = 27,
  /** `BPF_MAP_TYPE_INODE_STORAGE` */
  InodeStorage = 28,
  /** `BPF_MAP_TYPE_TASK_STORAGE` */
  TaskStorage = 29,
  /** `BPF_MAP_TYPE_BLOOM_FILTER` */
  BloomFilter = 30,
  /** `BPF_MAP_TYPE_USER_RINGBUF` */
  UserRingbuf = 31,
  /** `BPF_MAP_TYPE_CGRP_STORAGE` */
  CgrpStorage = 32,
  /** `BPF_MAP_TYPE_ARENA` */
  Arena = 33,
}

const NAMES = new Map<number, string>([
  [0, 'BPF_MAP_TYPE_UNSPEC'],
  [1, 'BPF_MAP_TYPE_HASH'],
  [2, 'BPF_MAP_TYPE_ARRAY'],
  [3, 'BPF_MAP_TYPE_PROG_ARRAY'],
  [4, 'BPF_MAP_TYPE_PERF_EVENT_ARRAY'],
  [5, 'BPF_MAP_TYPE_PERCPU_HASH'],
  [6, 'BPF_MAP_TYPE_PERCPU_ARRAY'],
  [7, 'BPF_MAP_TYPE_STACK_TRACE'],
  [8, 'BPF_MAP_TYPE_CGROUP_ARRAY'],
  [9, 'BPF_MAP_TYPE_LRU_HASH'],
  [10, 'BPF_MAP_TYPE_LRU_PERCPU_HASH'],
  [11, 'BPF_MAP_TYPE_LPM_TRIE'],
  [12, 'BPF_MAP_TYPE_ARRAY_OF_MAPS'],
  [13, 'BPF_MAP_TYPE_HASH_OF_MAPS'],
  [14, 'BPF_MAP_TYPE_DEVMAP'],
  [15, 'BPF_MAP_TYPE_SOCKMAP'],
  [16, 'BPF_MAP_TYPE_CPUMAP'],
  [17, 'BPF_MAP_TYPE_XSKMAP'],
  [18, 'BPF_MAP_TYPE_SOCKHASH'],
  [19, 'BPF_MAP_TYPE_CGROUP_STORAGE'],
  [20, 'BPF_MAP_TYPE_REUSEPORT_SOCKARRAY'],
  [21, 'BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE'],
  [22, 'BPF_MAP_TYPE_QUEUE'],
  [23, 'BPF_MAP_TYPE_STACK'],
  [24, 'BPF_MAP_TYPE_SK_STORAGE'],
  [25, 'BPF_MAP_TYPE_DEVMAP_HASH'],
  [26, 'BPF_MAP_TYPE_STRUCT_OPS'],
  [27, 'BPF_MAP_TYPE_RINGBUF'],
  [28, 'BPF_MAP_TYPE_INODE_STORAGE'],
  [29, 'BPF_MAP_TYPE_TASK_STORAGE'],
  [30, 'BPF_MAP_TYPE_BLOOM_FILTER'],
  [31, 'BPF_MAP_TYPE_USER_RINGBUF'],
  [32, 'BPF_MAP_TYPE_CGRP_STORAGE'],
  [33, 'BPF_MAP_TYPE_ARENA'],
]);

/**
 * The map type named `name`: the kernel name (`'BPF_MAP_TYPE_HASH'`), the name without the prefix in
 * any case (`'hash'`), or the enum key (`'Hash'`).
 */
export function mapTypeFromName(name: string): MapType | undefined {
  return enumFromName(NAMES, 'BPF_MAP_TYPE_', name) as MapType | undefined;
}

/** The kernel name of a map type (`'BPF_MAP_TYPE_HASH'`), or `undefined` for a number the kernel does not define. */
export function mapTypeName(value: number): string | undefined {
  return NAMES.get(value);
}
