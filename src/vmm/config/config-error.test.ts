/** Tests for ConfigError messages (option and field named) and the option/field name mapping. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, configError } from './config-error.ts';
import { omitUndefined } from './omit-undefined.ts';
import { fieldForOption, optionForField } from './option-names.ts';

describe('optionForField', () => {
  it('maps field paths to the option that fills them', () => {
    assert.equal(optionForField('cpus.max_vcpus'), '--cpus');
    assert.equal(optionForField('disks[2].id'), '--disk');
    assert.equal(optionForField('memory.size'), '--memory');
    assert.equal(optionForField('memory.zones[0].hugepage_size'), '--memory-zone');
    assert.equal(optionForField('payload.kernel'), '--kernel');
    assert.equal(optionForField('payload'), '--kernel/--firmware');
    assert.equal(optionForField('debug_console.file'), '--debug-console');
    assert.equal(optionForField('landlock_enable'), '--landlock');
    assert.equal(optionForField('unknown_field'), 'unknown_field');
  });
});

describe('fieldForOption', () => {
  it('maps options to the top-level field they set', () => {
    assert.equal(fieldForOption('--cpus'), 'cpus');
    assert.equal(fieldForOption('--memory-zone'), 'memory');
    assert.equal(fieldForOption('--cmdline'), 'payload');
    assert.equal(fieldForOption('--firmware'), 'payload');
    assert.equal(fieldForOption('--device'), 'devices');
    assert.equal(fieldForOption('--landlock'), 'landlock_enable');
    assert.equal(fieldForOption('--api-socket'), undefined);
    assert.equal(fieldForOption('-v'), undefined);
  });
});

describe('configError', () => {
  it('builds "<option>: <problem> [<field>]" with code and field', () => {
    const error = configError('INVALID_VALUE', 'net[1].mtu', 'mtu=100 is too small');
    assert.ok(error instanceof ConfigError);
    assert.equal(error.name, 'ConfigError');
    assert.equal(error.code, 'INVALID_VALUE');
    assert.equal(error.field, 'net[1].mtu');
    assert.equal(error.message, '--net: mtu=100 is too small [net[1].mtu]');
  });
});

describe('omitUndefined', () => {
  it('drops undefined fields and keeps falsy values', () => {
    interface Example {
      a: number;
      b?: string;
      c?: boolean;
    }
    assert.deepEqual(omitUndefined<Example>({ a: 0, b: undefined, c: false }), { a: 0, c: false });
    assert.equal(Object.hasOwn(omitUndefined<Example>({ a: 1, b: undefined, c: undefined }), 'b'), false);
  });
});
