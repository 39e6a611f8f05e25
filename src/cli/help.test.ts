/** Tests for the --help text: every option with its syntax line, defaults, and the implemented-features list. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SUPPORTED_FEATURES } from '../vmm/config/supported.ts';
import { helpText } from './help.ts';
import { CLI_OPTIONS } from './option-table.ts';

describe('helpText', () => {
  const text = helpText();
  const lines = text.split('\n');

  it('starts with the usage line', () => {
    assert.equal(lines[2], 'Usage: nimbus [OPTIONS]');
  });

  it('lists every option with its value syntax and help on the next line', () => {
    for (const spec of CLI_OPTIONS) {
      const index = lines.findIndex((line) => line.trim().startsWith(spec.long !== undefined && spec.short === undefined ? `--${spec.long}` : `-${spec.short}`));
      assert.notEqual(index, -1, `${spec.id} is listed`);
      const firstHelpLine = spec.help.split('\n')[0] ?? '';
      assert.ok((lines[index + 1] ?? '').includes(firstHelpLine), `${spec.id} help follows`);
    }
  });

  it('shows value shapes, defaults and possible values like clap', () => {
    assert.ok(lines.includes('      --cpus <cpus>'));
    assert.ok(lines.includes('      --disk <disk>...'));
    assert.ok(lines.includes('      --rtc [<rtc>]'));
    assert.ok(lines.includes('      --pvpanic'));
    assert.ok(lines.includes('  -v...'));
    assert.ok(lines.includes('  -V, --version'));
    assert.ok(lines.includes('  -h, --help'));
    assert.ok(text.includes('[default: boot=1,max_phys_bits=46]'));
    assert.ok(text.includes('[default: size=512M]'));
    assert.ok(text.includes('[possible values: true, false, log, errno]'));
    assert.ok(text.includes('          Restore parameters "source_url=<source_url>'), 'multi-line help is indented');
  });

  it('ends with what Nimbus implements', () => {
    for (const feature of SUPPORTED_FEATURES) {
      assert.ok(lines.some((line) => line.startsWith(`  ${feature.option} `) && line.endsWith(feature.scope)), feature.option);
    }
  });
});
