/**
 * Helper prototypes in the verifier's terms (the kernel's `struct bpf_func_proto`): what each
 * argument register must hold and what r0 holds after the call.
 */

/** Argument types (`enum bpf_arg_type`), the subset helpers use, with the kernel's names. */
export type ArgType =
  | 'ARG_DONTCARE'
  | 'ARG_ANYTHING'
  | 'ARG_CONST_MAP_PTR'
  | 'ARG_PTR_TO_MAP_KEY'
  | 'ARG_PTR_TO_MAP_VALUE'
  | 'ARG_PTR_TO_UNINIT_MAP_VALUE'
  | 'ARG_PTR_TO_MEM'
  | 'ARG_PTR_TO_MEM_OR_NULL'
  | 'ARG_PTR_TO_UNINIT_MEM'
  | 'ARG_CONST_SIZE'
  | 'ARG_CONST_SIZE_OR_ZERO'
  | 'ARG_PTR_TO_CTX'
  | 'ARG_PTR_TO_CTX_OR_NULL'
  | 'ARG_PTR_TO_LONG'
  | 'ARG_PTR_TO_INT'
  | 'ARG_PTR_TO_SOCKET'
  | 'ARG_PTR_TO_SOCK_COMMON'
  | 'ARG_PTR_TO_BTF_ID'
  | 'ARG_PTR_TO_BTF_ID_SOCK_COMMON'
  | 'ARG_PTR_TO_ALLOC_MEM'
  | 'ARG_PTR_TO_FUNC'
  | 'ARG_PTR_TO_STACK_OR_NULL'
  | 'ARG_PTR_TO_CONST_STR'
  | 'ARG_PTR_TO_TIMER'
  | 'ARG_PTR_TO_DYNPTR'
  | 'ARG_PTR_TO_SPIN_LOCK'
  | 'ARG_CONST_ALLOC_SIZE_OR_ZERO'
  | 'ARG_PTR_TO_KPTR';

/** Return types (`enum bpf_return_type`). */
export type RetType =
  | 'RET_INTEGER'
  | 'RET_VOID'
  | 'RET_PTR_TO_MAP_VALUE'
  | 'RET_PTR_TO_MAP_VALUE_OR_NULL'
  | 'RET_PTR_TO_SOCKET_OR_NULL'
  | 'RET_PTR_TO_TCP_SOCK_OR_NULL'
  | 'RET_PTR_TO_SOCK_COMMON_OR_NULL'
  | 'RET_PTR_TO_RINGBUF_MEM_OR_NULL'
  | 'RET_PTR_TO_MEM_OR_BTF_ID'
  | 'RET_PTR_TO_BTF_ID'
  | 'RET_PTR_TO_BTF_ID_OR_NULL';

/** One helper's prototype. */
export interface HelperProto {
  id: number;
  name: string;
  ret: RetType;
  args: ArgType[];
  /** The C signature from the kernel's documentation. */
  signature: string;
  /**
   * `kernel`: transcribed from the kernel's `bpf_func_proto` for this helper and checked in tests;
   * `derived`: derived from the documented C signature by rules (see prototypes.ts).
   */
  source: 'kernel' | 'derived';
  /** GPL-only (`gpl_only` in the kernel). */
  gplOnly?: boolean;
}
