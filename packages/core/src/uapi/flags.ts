/** Flags of `BPF_MAP_UPDATE_ELEM` and the lookup commands. */
export const UpdateFlags = {
  /** Create a new element or update an existing one. */
  BPF_ANY: 0,
  /** Create a new element only if it did not exist (`-EEXIST` otherwise). */
  BPF_NOEXIST: 1,
  /** Update an existing element only (`-ENOENT` otherwise). */
  BPF_EXIST: 2,
  /** Take the value's `bpf_spin_lock` while copying. */
  BPF_F_LOCK: 4,
} as const;

/** `map_flags` of `BPF_MAP_CREATE`. */
export const MapFlags = {
  BPF_F_NO_PREALLOC: 1 << 0,
  BPF_F_NO_COMMON_LRU: 1 << 1,
  BPF_F_NUMA_NODE: 1 << 2,
  BPF_F_RDONLY: 1 << 3,
  BPF_F_WRONLY: 1 << 4,
  BPF_F_STACK_BUILD_ID: 1 << 5,
  BPF_F_ZERO_SEED: 1 << 6,
  BPF_F_RDONLY_PROG: 1 << 7,
  BPF_F_WRONLY_PROG: 1 << 8,
  BPF_F_CLONE: 1 << 9,
  BPF_F_MMAPABLE: 1 << 10,
  BPF_F_PRESERVE_ELEMS: 1 << 11,
  BPF_F_INNER_MAP: 1 << 12,
  BPF_F_LINK: 1 << 13,
  BPF_F_PATH_FD: 1 << 14,
  BPF_F_VTYPE_BTF_OBJ_FD: 1 << 15,
  BPF_F_TOKEN_FD: 1 << 16,
  BPF_F_SEGV_ON_FAULT: 1 << 17,
  BPF_F_NO_USER_CONV: 1 << 18,
} as const;

/** `prog_flags` of `BPF_PROG_LOAD`. */
export const ProgFlags = {
  BPF_F_STRICT_ALIGNMENT: 1 << 0,
  BPF_F_ANY_ALIGNMENT: 1 << 1,
  BPF_F_TEST_RND_HI32: 1 << 2,
  BPF_F_TEST_STATE_FREQ: 1 << 3,
  BPF_F_SLEEPABLE: 1 << 4,
  BPF_F_XDP_HAS_FRAGS: 1 << 5,
  BPF_F_XDP_DEV_BOUND_ONLY: 1 << 6,
  BPF_F_TEST_REG_INVARIANTS: 1 << 7,
  BPF_F_TOKEN_FD: 1 << 16,
} as const;
