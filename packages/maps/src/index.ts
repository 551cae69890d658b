export { AddressSpace, NULL_GUARD, STRICT_GUARD, type AddressSpaceOptions, type Region } from './address-space.js';
export { BpfMap, Limits, DEFAULT_CPUS, validateSpec } from './map.js';
export { ArrayMap } from './array.js';
export { HashMap } from './hash.js';
export { RingBufMap, RingbufQuery, RINGBUF_BUSY, RINGBUF_DISCARD, RINGBUF_HDR } from './ringbuf.js';
export { createMap, type CreateMapOptions } from './create.js';
export { FdArrayMap, PerfEventArrayMap, type FdResolver, type PerfSample } from './fd-array.js';
export { TypedMap, struct, bytes, u8, i8, u16, i16, u32, i32, u64, i64, type Codec } from './typed.js';
