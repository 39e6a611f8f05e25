/** MappedFile exposes a file's bytes without reading it into the heap, and handles empty and missing files. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MappedFile } from './mapped-file.ts';

test('maps a file read-only, an empty file gives an empty view, a missing file throws ENOENT', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-map-'));
  try {
    const data = new Uint8Array(10_000).map((_, i) => i * 7);
    writeFileSync(join(dir, 'k'), data);
    writeFileSync(join(dir, 'empty'), new Uint8Array(0));
    const mapped = MappedFile.open(join(dir, 'k'));
    assert.deepEqual(mapped.bytes, data);
    mapped.unmap();
    mapped.unmap();
    const empty = MappedFile.open(join(dir, 'empty'));
    assert.equal(empty.bytes.length, 0);
    empty.unmap();
    assert.throws(() => MappedFile.open(join(dir, 'missing')), { code: 'ENOENT' });
  } finally {
    rmSync(dir, { recursive: true });
  }
});
