#!/usr/bin/env node
// bpf_conformance runs `<plugin> ["<mem hex>"] [<plugin_options>...]`; this is
// `tsbpf conformance-plugin` under a name the runner can be pointed at with --plugin_path.
import('../dist/main.js')
  .then(async ({ main }) => {
    process.exitCode = await main(['conformance-plugin', ...process.argv.slice(2)]);
  })
  .catch((e) => {
    process.stderr.write(`tsbpf-conformance-plugin: cannot load the built CLI (${e.message})\n`);
    process.exitCode = 1;
  });
