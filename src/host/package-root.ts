/**
 * Locates the Nimbus package directory (the one holding its package.json) from the running module, so paths to the
 * native addon and package metadata work from dist/src/... as well as from the bundle in dist/bundle/.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

export function packageRoot(): string {
  if (cached) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'nimbus') return (cached = dir);
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`cannot find Nimbus's package.json above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

export function packageVersion(): string {
  return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}
