import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, release } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { kernelConfig } from './kconfig.js';

describe('kernelConfig', () => {
  it('reads a gzipped .config as libbpf does: y/m/n, numbers, strings without quotes, comments skipped', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsbpf-kconfig-'));
    try {
      const text = ['# comment', 'CONFIG_BPF_SYSCALL=y', 'CONFIG_NF_TABLES=m', '# CONFIG_X is not set', 'CONFIG_HZ=250', 'CONFIG_DEFAULT_HOSTNAME="(none)"', ''].join('\n');
      writeFileSync(join(dir, 'config.gz'), gzipSync(text));
      writeFileSync(join(dir, 'config'), 'CONFIG_HZ=1000\n');
      const c = kernelConfig([join(dir, 'missing'), join(dir, 'config.gz'), join(dir, 'config')]);
      expect(c).toMatchObject({ CONFIG_BPF_SYSCALL: 'y', CONFIG_NF_TABLES: 'm', CONFIG_HZ: '250', CONFIG_DEFAULT_HOSTNAME: '(none)' });
      expect(c.CONFIG_X).toBeUndefined();
      // KERNEL_VERSION(a, b, c) of uname -r, the patch level capped at 255
      const [a, b, p] = release().split(/[.-]/).map(Number);
      expect(c.LINUX_KERNEL_VERSION).toBe(a * 65536 + b * 256 + Math.min(p || 0, 255));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
