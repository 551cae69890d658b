//! The native layer of `@tsbpf/kernel`: a tiny, generic surface over the system calls the kernel
//! backend needs (`bpf`, `perf_event_open`, `ioctl`, `close`, `mmap`/`munmap`, `poll`). Every
//! `bpf_attr` is encoded in TypeScript; this file only moves bytes and addresses.
//!
//! No crate dependencies: the N-API functions (resolved from the Node.js binary at load time) and
//! the libc functions are declared by hand below.
#![allow(non_camel_case_types)]

use std::collections::HashSet;
use std::ffi::{c_char, c_int, c_long, c_void};
use std::ptr;
use std::sync::Mutex;

// ---------------------------------------------------------------------------------------------
// N-API, as declared in node's js_native_api.h / node_api.h.

type napi_env = *mut c_void;
type napi_value = *mut c_void;
type napi_callback_info = *mut c_void;
type napi_status = c_int;
type napi_callback = unsafe extern "C" fn(napi_env, napi_callback_info) -> napi_value;
type napi_finalize = unsafe extern "C" fn(napi_env, *mut c_void, *mut c_void);

const NAPI_OK: napi_status = 0;

extern "C" {
    fn napi_create_function(env: napi_env, name: *const c_char, len: usize, cb: napi_callback, data: *mut c_void, result: *mut napi_value) -> napi_status;
    fn napi_set_named_property(env: napi_env, object: napi_value, name: *const c_char, value: napi_value) -> napi_status;
    fn napi_get_cb_info(env: napi_env, info: napi_callback_info, argc: *mut usize, argv: *mut napi_value, this: *mut napi_value, data: *mut *mut c_void) -> napi_status;
    fn napi_get_value_double(env: napi_env, value: napi_value, result: *mut f64) -> napi_status;
    fn napi_create_double(env: napi_env, value: f64, result: *mut napi_value) -> napi_status;
    fn napi_get_undefined(env: napi_env, result: *mut napi_value) -> napi_status;
    fn napi_is_typedarray(env: napi_env, value: napi_value, result: *mut bool) -> napi_status;
    fn napi_get_typedarray_info(env: napi_env, value: napi_value, ty: *mut c_int, length: *mut usize, data: *mut *mut c_void, arraybuffer: *mut napi_value, offset: *mut usize) -> napi_status;
    fn napi_is_array(env: napi_env, value: napi_value, result: *mut bool) -> napi_status;
    fn napi_get_array_length(env: napi_env, value: napi_value, result: *mut u32) -> napi_status;
    fn napi_get_element(env: napi_env, object: napi_value, index: u32, result: *mut napi_value) -> napi_status;
    fn napi_typeof(env: napi_env, value: napi_value, result: *mut c_int) -> napi_status;
    fn napi_create_external_arraybuffer(env: napi_env, data: *mut c_void, len: usize, finalize: napi_finalize, hint: *mut c_void, result: *mut napi_value) -> napi_status;
    fn napi_get_arraybuffer_info(env: napi_env, value: napi_value, data: *mut *mut c_void, len: *mut usize) -> napi_status;
    fn napi_detach_arraybuffer(env: napi_env, value: napi_value) -> napi_status;
    fn napi_create_string_utf8(env: napi_env, s: *const c_char, len: usize, result: *mut napi_value) -> napi_status;
    fn napi_create_error(env: napi_env, code: napi_value, msg: napi_value, result: *mut napi_value) -> napi_status;
    fn napi_throw(env: napi_env, error: napi_value) -> napi_status;
    fn napi_throw_type_error(env: napi_env, code: *const c_char, msg: *const c_char) -> napi_status;
    fn napi_is_exception_pending(env: napi_env, result: *mut bool) -> napi_status;
}

const NAPI_UNDEFINED: c_int = 0;
const NAPI_NULL: c_int = 1;
const NAPI_AUTO_LENGTH: usize = usize::MAX;

// ---------------------------------------------------------------------------------------------
// libc.

extern "C" {
    fn syscall(num: c_long, ...) -> c_long;
    fn __errno_location() -> *mut c_int;
    fn close(fd: c_int) -> c_int;
    fn ioctl(fd: c_int, request: std::ffi::c_ulong, ...) -> c_int;
    fn mmap(addr: *mut c_void, len: usize, prot: c_int, flags: c_int, fd: c_int, off: i64) -> *mut c_void;
    fn munmap(addr: *mut c_void, len: usize) -> c_int;
    fn poll(fds: *mut PollFd, nfds: u64, timeout: c_int) -> c_int;
}

#[repr(C)]
struct PollFd {
    fd: c_int,
    events: i16,
    revents: i16,
}

#[cfg(target_arch = "x86_64")]
const SYS_BPF: c_long = 321;
#[cfg(target_arch = "x86_64")]
const SYS_PERF_EVENT_OPEN: c_long = 298;
#[cfg(target_arch = "aarch64")]
const SYS_BPF: c_long = 280;
#[cfg(target_arch = "aarch64")]
const SYS_PERF_EVENT_OPEN: c_long = 241;

const MAP_FAILED: *mut c_void = !0usize as *mut c_void;

fn errno() -> c_int {
    unsafe { *__errno_location() }
}

fn errno_name(e: c_int) -> String {
    let name = match e {
        1 => "EPERM", 2 => "ENOENT", 3 => "ESRCH", 4 => "EINTR", 5 => "EIO", 6 => "ENXIO", 7 => "E2BIG",
        9 => "EBADF", 11 => "EAGAIN", 12 => "ENOMEM", 13 => "EACCES", 14 => "EFAULT", 16 => "EBUSY",
        17 => "EEXIST", 19 => "ENODEV", 22 => "EINVAL", 24 => "EMFILE", 28 => "ENOSPC", 34 => "ERANGE",
        38 => "ENOSYS", 95 => "EOPNOTSUPP", 524 => "ENOTSUPP", 125 => "ECANCELED", 90 => "EMSGSIZE",
        _ => "",
    };
    if name.is_empty() { format!("E{}", e) } else { name.to_string() }
}

// ---------------------------------------------------------------------------------------------
// Helpers for reading arguments and throwing errors.

struct Thrown;
type R<T> = Result<T, Thrown>;

unsafe fn throw_type(env: napi_env, msg: &str) -> Thrown {
    let m = format!("{}\0", msg);
    napi_throw_type_error(env, b"ERR_INVALID_ARG_TYPE\0".as_ptr() as *const c_char, m.as_ptr() as *const c_char);
    Thrown
}

unsafe fn string(env: napi_env, s: &str) -> napi_value {
    let mut v = ptr::null_mut();
    napi_create_string_utf8(env, s.as_ptr() as *const c_char, s.len(), &mut v);
    v
}

unsafe fn number(env: napi_env, n: f64) -> napi_value {
    let mut v = ptr::null_mut();
    napi_create_double(env, n, &mut v);
    v
}

/// Throws `Error` with `.code` (errno name), `.errno` (positive) and `.syscall`.
unsafe fn throw_errno(env: napi_env, call: &str, e: c_int) -> Thrown {
    let code = errno_name(e);
    let msg = format!("{} failed: {} (errno {})", call, code, e);
    let mut err = ptr::null_mut();
    napi_create_error(env, string(env, &code), string(env, &msg), &mut err);
    napi_set_named_property(env, err, b"errno\0".as_ptr() as *const c_char, number(env, e as f64));
    napi_set_named_property(env, err, b"syscall\0".as_ptr() as *const c_char, string(env, call));
    napi_throw(env, err);
    Thrown
}

unsafe fn args<const N: usize>(env: napi_env, info: napi_callback_info) -> [napi_value; N] {
    let mut argv = [ptr::null_mut(); N];
    let mut argc = N;
    napi_get_cb_info(env, info, &mut argc, argv.as_mut_ptr(), ptr::null_mut(), ptr::null_mut());
    argv
}

unsafe fn num(env: napi_env, v: napi_value, what: &str) -> R<f64> {
    let mut d = 0f64;
    if v.is_null() || napi_get_value_double(env, v, &mut d) != NAPI_OK {
        return Err(throw_type(env, &format!("{} must be a number", what)));
    }
    Ok(d)
}

unsafe fn int(env: napi_env, v: napi_value, what: &str) -> R<i64> {
    let d = num(env, v, what)?;
    if d.fract() != 0.0 || !d.is_finite() {
        return Err(throw_type(env, &format!("{} must be an integer", what)));
    }
    Ok(d as i64)
}

fn is_nullish(env: napi_env, v: napi_value) -> bool {
    if v.is_null() { return true; }
    let mut t = 0;
    unsafe { napi_typeof(env, v, &mut t); }
    t == NAPI_UNDEFINED || t == NAPI_NULL
}

/// The data pointer and byte length of a typed array (its byteOffset applied).
unsafe fn bytes(env: napi_env, v: napi_value, what: &str) -> R<(*mut u8, usize)> {
    let mut is = false;
    if v.is_null() || napi_is_typedarray(env, v, &mut is) != NAPI_OK || !is {
        return Err(throw_type(env, &format!("{} must be a Uint8Array", what)));
    }
    let (mut ty, mut len, mut data, mut ab, mut off) = (0, 0usize, ptr::null_mut(), ptr::null_mut(), 0usize);
    napi_get_typedarray_info(env, v, &mut ty, &mut len, &mut data, &mut ab, &mut off);
    // Element size by napi_typedarray_type: int8/uint8/uint8_clamped 1, 16-bit 2, 32-bit/float 4, float64/bigint 8.
    let elem = match ty { 0 | 1 | 2 => 1, 3 | 4 => 2, 5 | 6 | 7 => 4, _ => 8 };
    Ok((data as *mut u8, len * elem))
}

unsafe fn undefined(env: napi_env) -> napi_value {
    let mut u = ptr::null_mut();
    napi_get_undefined(env, &mut u);
    u
}

fn finish(env: napi_env, r: R<napi_value>) -> napi_value {
    match r {
        Ok(v) => v,
        Err(Thrown) => unsafe {
            let mut pending = false;
            napi_is_exception_pending(env, &mut pending);
            undefined(env)
        },
    }
}

// ---------------------------------------------------------------------------------------------
// Exported functions.

/// Writes the address of each `[offset, Uint8Array | null]` of `ptrs` into `attr` at its offset;
/// returns the offsets written, to clear after the call.
unsafe fn patch_ptrs(env: napi_env, attr: *mut u8, attr_len: usize, ptrs: napi_value) -> R<Vec<usize>> {
    let mut patched: Vec<usize> = Vec::new();
    if is_nullish(env, ptrs) { return Ok(patched); }
    let mut is_arr = false;
    napi_is_array(env, ptrs, &mut is_arr);
    if !is_arr { return Err(throw_type(env, "ptrs must be an array of [offset, Uint8Array | null]")); }
    let mut n = 0u32;
    napi_get_array_length(env, ptrs, &mut n);
    for i in 0..n {
        let mut pair = ptr::null_mut();
        napi_get_element(env, ptrs, i, &mut pair);
        let (mut offv, mut bufv) = (ptr::null_mut(), ptr::null_mut());
        napi_get_element(env, pair, 0, &mut offv);
        napi_get_element(env, pair, 1, &mut bufv);
        let off = int(env, offv, "ptrs offset")?;
        if off < 0 || off as usize + 8 > attr_len {
            return Err(throw_type(env, &format!("ptrs offset {} is outside the {}-byte attr", off, attr_len)));
        }
        let addr: u64 = if is_nullish(env, bufv) { 0 } else { bytes(env, bufv, "ptrs buffer")?.0 as u64 };
        ptr::copy_nonoverlapping(addr.to_le_bytes().as_ptr(), attr.add(off as usize), 8);
        patched.push(off as usize);
    }
    Ok(patched)
}

/// `bpf(cmd, attr, ptrs?)`: `ptrs` is an array of `[offsetInAttr, Uint8Array | null]`; each
/// buffer's address is written into `attr` at its offset just before the call and cleared after,
/// so no address outlives the call and every buffer is alive (held by the arguments) meanwhile.
unsafe extern "C" fn js_bpf(env: napi_env, info: napi_callback_info) -> napi_value {
    let a = args::<3>(env, info);
    finish(env, (|| {
        let cmd = int(env, a[0], "cmd")?;
        let (attr, attr_len) = bytes(env, a[1], "attr")?;
        let patched = patch_ptrs(env, attr, attr_len, a[2])?;
        let r = syscall(SYS_BPF, cmd as c_long, attr as *mut c_void, attr_len as u32);
        let e = errno();
        for off in patched { ptr::write_bytes(attr.add(off), 0, 8); }
        if r < 0 { return Err(throw_errno(env, "bpf", e)); }
        Ok(number(env, r as f64))
    })())
}

/// `perfEventOpen(attr, pid, cpu, groupFd, flags, ptrs?)` -> fd; `ptrs` as for `bpf` (uprobe and
/// kprobe PMUs take a path or symbol name pointer in `config1`).
unsafe extern "C" fn js_perf_event_open(env: napi_env, info: napi_callback_info) -> napi_value {
    let a = args::<6>(env, info);
    finish(env, (|| {
        let (attr, attr_len) = bytes(env, a[0], "attr")?;
        let pid = int(env, a[1], "pid")?;
        let cpu = int(env, a[2], "cpu")?;
        let group = int(env, a[3], "groupFd")?;
        let flags = int(env, a[4], "flags")?;
        let patched = patch_ptrs(env, attr, attr_len, a[5])?;
        let r = syscall(SYS_PERF_EVENT_OPEN, attr as *mut c_void, pid as c_int, cpu as c_int, group as c_int, flags as std::ffi::c_ulong);
        let e = errno();
        for off in patched { ptr::write_bytes(attr.add(off), 0, 8); }
        if r < 0 { return Err(throw_errno(env, "perf_event_open", e)); }
        Ok(number(env, r as f64))
    })())
}

/// `ioctl(fd, request, arg)` with an integer argument.
unsafe extern "C" fn js_ioctl(env: napi_env, info: napi_callback_info) -> napi_value {
    let a = args::<3>(env, info);
    finish(env, (|| {
        let fd = int(env, a[0], "fd")?;
        let req = int(env, a[1], "request")?;
        let arg = int(env, a[2], "arg")?;
        let r = ioctl(fd as c_int, req as std::ffi::c_ulong, arg as std::ffi::c_ulong);
        if r < 0 { return Err(throw_errno(env, "ioctl", errno())); }
        Ok(number(env, r as f64))
    })())
}

/// `close(fd)`
unsafe extern "C" fn js_close(env: napi_env, info: napi_callback_info) -> napi_value {
    let a = args::<1>(env, info);
    finish(env, (|| {
        let fd = int(env, a[0], "fd")?;
        if close(fd as c_int) < 0 { return Err(throw_errno(env, "close", errno())); }
        Ok(undefined(env))
    })())
}

/// Live mappings (address -> length), so that `munmap` and the garbage collector's finalizer never
/// unmap the same region twice.
static MAPPINGS: Mutex<Option<HashSet<(usize, usize)>>> = Mutex::new(None);

fn take_mapping(addr: usize, len: usize) -> bool {
    let mut g = MAPPINGS.lock().unwrap();
    g.get_or_insert_with(HashSet::new).remove(&(addr, len))
}

unsafe extern "C" fn finalize_mapping(_env: napi_env, data: *mut c_void, hint: *mut c_void) {
    let len = hint as usize;
    if take_mapping(data as usize, len) { munmap(data, len); }
}

/// `mmap(fd, length, prot, flags, offset)` -> an ArrayBuffer over the mapping; unmapped by
/// `munmap(buffer)` or when the buffer is garbage collected.
unsafe extern "C" fn js_mmap(env: napi_env, info: napi_callback_info) -> napi_value {
    let a = args::<5>(env, info);
    finish(env, (|| {
        let fd = int(env, a[0], "fd")?;
        let len = int(env, a[1], "length")?;
        let prot = int(env, a[2], "prot")?;
        let flags = int(env, a[3], "flags")?;
        let off = int(env, a[4], "offset")?;
        if len <= 0 { return Err(throw_type(env, "length must be positive")); }
        let p = mmap(ptr::null_mut(), len as usize, prot as c_int, flags as c_int, fd as c_int, off);
        if p == MAP_FAILED { return Err(throw_errno(env, "mmap", errno())); }
        MAPPINGS.lock().unwrap().get_or_insert_with(HashSet::new).insert((p as usize, len as usize));
        let mut ab = ptr::null_mut();
        if napi_create_external_arraybuffer(env, p, len as usize, finalize_mapping, len as usize as *mut c_void, &mut ab) != NAPI_OK {
            take_mapping(p as usize, len as usize);
            munmap(p, len as usize);
            return Err(throw_type(env, "this Node.js cannot wrap external memory in an ArrayBuffer"));
        }
        Ok(ab)
    })())
}

/// `munmap(buffer)`: unmaps now and detaches the buffer, so later access sees a 0-byte buffer
/// instead of unmapped memory. A second call is a no-op.
unsafe extern "C" fn js_munmap(env: napi_env, info: napi_callback_info) -> napi_value {
    let a = args::<1>(env, info);
    finish(env, (|| {
        let (mut data, mut len) = (ptr::null_mut(), 0usize);
        if a[0].is_null() || napi_get_arraybuffer_info(env, a[0], &mut data, &mut len) != NAPI_OK {
            return Err(throw_type(env, "munmap takes the ArrayBuffer that mmap returned"));
        }
        if !data.is_null() && take_mapping(data as usize, len) {
            napi_detach_arraybuffer(env, a[0]);
            if munmap(data, len) < 0 { return Err(throw_errno(env, "munmap", errno())); }
        }
        Ok(undefined(env))
    })())
}

/// `poll(fd, events, timeoutMs)` -> revents (0 on timeout).
unsafe extern "C" fn js_poll(env: napi_env, info: napi_callback_info) -> napi_value {
    let a = args::<3>(env, info);
    finish(env, (|| {
        let mut p = PollFd { fd: int(env, a[0], "fd")? as c_int, events: int(env, a[1], "events")? as i16, revents: 0 };
        let timeout = int(env, a[2], "timeoutMs")?;
        let r = poll(&mut p, 1, timeout as c_int);
        if r < 0 { return Err(throw_errno(env, "poll", errno())); }
        Ok(number(env, if r == 0 { 0.0 } else { p.revents as f64 }))
    })())
}

unsafe fn export(env: napi_env, exports: napi_value, name: &str, f: napi_callback) {
    let mut func = ptr::null_mut();
    napi_create_function(env, name.as_ptr() as *const c_char, name.len(), f, ptr::null_mut(), &mut func);
    let cname = format!("{}\0", name);
    napi_set_named_property(env, exports, cname.as_ptr() as *const c_char, func);
}

#[no_mangle]
pub unsafe extern "C" fn napi_register_module_v1(env: napi_env, exports: napi_value) -> napi_value {
    export(env, exports, "bpf", js_bpf);
    export(env, exports, "perfEventOpen", js_perf_event_open);
    export(env, exports, "ioctl", js_ioctl);
    export(env, exports, "close", js_close);
    export(env, exports, "mmap", js_mmap);
    export(env, exports, "munmap", js_munmap);
    export(env, exports, "poll", js_poll);
    let _ = NAPI_AUTO_LENGTH;
    exports
}
