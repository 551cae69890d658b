import { existsSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import { gunzipSync } from 'node:zlib';

/**
 * The running kernel's configuration as libbpf reads it for `.kconfig` externs: `/proc/config.gz`,
 * else `/boot/config-$(uname -r)`; `CONFIG_X=y|m|n|number|"string"` lines, plus
 * `LINUX_KERNEL_VERSION` (`KERNEL_VERSION(a, b, c)` of `uname -r`, patch level capped at 255).
 * Empty apart from `LINUX_KERNEL_VERSION` where neither file exists.
 */
export function kernelConfig(paths: readonly string[] = ['/proc/config.gz', `/boot/config-${release()}`]): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(release());
  if (m) out.LINUX_KERNEL_VERSION = (Number(m[1]) << 16) + (Number(m[2]) << 8) + Math.min(Number(m[3] ?? 0), 255);
  for (const path of paths) {
    if (!existsSync(path)) continue;
    let text: string;
    try {
      const raw = readFileSync(path);
      text = (path.endsWith('.gz') ? gunzipSync(raw) : raw).toString('utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      const kv = /^(CONFIG_[A-Za-z0-9_]+)=(.*)$/.exec(line);
      if (kv) out[kv[1]] = kv[2].startsWith('"') ? kv[2].slice(1, -1) : kv[2];
    }
    break;
  }
  return out;
}
