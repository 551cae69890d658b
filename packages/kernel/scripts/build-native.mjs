// Builds the native addon with cargo when cargo is there; never fails the install.
// Run by the root `prepare` script (npm ci) and by `npm run build:native -w @tsbpf/kernel`.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkg = dirname(dirname(fileURLToPath(import.meta.url)));
const manifest = join(pkg, 'native', 'Cargo.toml');
const target = join(pkg, 'native', `tsbpf_kernel.${process.platform}-${process.arch === 'x64' ? 'x64' : process.arch}-gnu.node`);

function skip(why) {
  console.log(`@tsbpf/kernel: native addon not built (${why}); the kernel backend will report itself unavailable`);
  process.exit(0);
}

if (process.platform !== 'linux') skip(`${process.platform} has no bpf()`);
if (spawnSync('cargo', ['--version']).status !== 0) skip('cargo is not installed');
try {
  execFileSync('cargo', ['build', '--release', '--offline', '--quiet', '--manifest-path', manifest], { stdio: 'inherit' });
} catch (e) {
  skip(`cargo build failed: ${e.message}`);
}
const built = join(pkg, 'native', 'target', 'release', 'libtsbpf_kernel.so');
if (!existsSync(built)) skip(`${built} is missing after the build`);
copyFileSync(built, target);
console.log(`@tsbpf/kernel: native addon built: ${target}`);
