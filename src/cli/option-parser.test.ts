/** Tests for the option_parser semantics: splitting, quoting, typed conversions and their error messages. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CliError } from './cli-error.ts';
import {
  dequote,
  MAX_INTEGER_LIST_LENGTH,
  parseByteSize,
  parseInteger,
  parseIndexedIntegerList,
  parseIntegerList,
  parseStringList,
  parseSubOptions,
  parseToggle,
  parseTupleList,
  splitCommas,
} from './option-parser.ts';

const SPEC = { values: ['size', 'mergeable', 'topology', 'cmdline', 'extra', 'cpus', 'affinity', 'mode'], flags: ['off', 'tty'] };

function cliError(code: string, message: string): (error: unknown) => boolean {
  return (error: unknown) => {
    assert.ok(error instanceof CliError, `expected a CliError, got ${String(error)}`);
    assert.equal(error.code, code);
    assert.equal(error.message, message);
    return true;
  };
}

describe('splitCommas', () => {
  it('splits at top-level commas only', () => {
    assert.deepEqual(splitCommas('a=1,b=[1,2],c="x,y"'), ['a=1', 'b=[1,2]', 'c="x,y"']);
    assert.deepEqual(splitCommas('t=[[1,2],[3,4]]'), ['t=[[1,2],[3,4]]']);
    assert.deepEqual(splitCommas('""'), ['""']);
  });

  it('brackets inside quotes do not count', () => {
    assert.deepEqual(splitCommas('a="[",b=2'), ['a="["', 'b=2']);
  });

  it('rejects unbalanced brackets and quotes', () => {
    assert.equal(splitCommas('t=['), undefined);
    assert.equal(splitCommas('t=[[[]]]]'), undefined);
    assert.equal(splitCommas('c="'), undefined);
    assert.equal(splitCommas('c="""'), undefined);
  });
});

describe('dequote', () => {
  it('removes quotes and keeps doubled quotes as one', () => {
    assert.equal(dequote('"console=ttyS0,9600n8"'), 'console=ttyS0,9600n8');
    assert.equal(dequote('a\u03b2"a"""'), 'a\u03b2a"');
    assert.equal(dequote('a="b"'), 'a=b');
  });
});

describe('scalar converters', () => {
  it('toggles accept on/off/true/false in any case', () => {
    assert.equal(parseToggle('on'), true);
    assert.equal(parseToggle('TRUE'), true);
    assert.equal(parseToggle('Off'), false);
    assert.equal(parseToggle('false'), false);
    assert.equal(parseToggle('yes'), undefined);
    assert.equal(parseToggle('1'), undefined);
  });

  it('byte sizes take binary K/M/G suffixes', () => {
    assert.equal(parseByteSize('4096'), 4096);
    assert.equal(parseByteSize('64K'), 64 * 1024);
    assert.equal(parseByteSize('512M'), 512 * 1024 * 1024);
    assert.equal(parseByteSize('2G'), 2 * 1024 ** 3);
    assert.equal(parseByteSize(' 1G '), 1024 ** 3);
    assert.equal(parseByteSize('12X'), undefined);
    assert.equal(parseByteSize('1.5G'), undefined);
    assert.equal(parseByteSize('1g'), undefined);
    assert.equal(parseByteSize('1MK'), undefined);
    assert.equal(parseByteSize('-1'), undefined);
    assert.equal(parseByteSize(''), undefined);
    assert.equal(parseByteSize('99999999999G'), undefined, 'beyond 2^53 bytes');
  });

  it('integers are range checked per kind', () => {
    assert.equal(parseInteger('255', 'u8'), 255);
    assert.equal(parseInteger('256', 'u8'), undefined);
    assert.equal(parseInteger('+7', 'u16'), 7);
    assert.equal(parseInteger('-1', 'u32'), undefined);
    assert.equal(parseInteger('-5', 'i32'), -5);
    assert.equal(parseInteger('4294967295', 'u32'), 4294967295);
    assert.equal(parseInteger('0x10', 'u32'), undefined);
    assert.equal(parseInteger(' 1', 'u32'), undefined);
    assert.equal(parseInteger('', 'u32'), undefined);
  });
});

describe('list converters', () => {
  it('integer lists expand inclusive ranges', () => {
    assert.deepEqual(parseIntegerList('[0,2-4,6]', 'u32'), [0, 2, 3, 4, 6]);
    assert.deepEqual(parseIntegerList('5', 'u32'), [5]);
    assert.deepEqual(parseIntegerList('1-3', 'u8'), [1, 2, 3]);
  });

  it('integer lists reject decreasing ranges, bad items and out-of-range values', () => {
    assert.equal(parseIntegerList('[4-2]', 'u32'), undefined);
    assert.equal(parseIntegerList('[2-2]', 'u32'), undefined);
    assert.equal(parseIntegerList('[1-2-3]', 'u32'), undefined);
    assert.equal(parseIntegerList('[a]', 'u32'), undefined);
    assert.equal(parseIntegerList('[]', 'u32'), undefined);
    assert.equal(parseIntegerList('[0, 1]', 'u32'), undefined);
    assert.equal(parseIntegerList('[300]', 'u8'), undefined);
    assert.equal(parseIntegerList(`[0-${MAX_INTEGER_LIST_LENGTH}]`, 'u32'), undefined);
  });

  it('string lists split outside quotes and brackets', () => {
    assert.deepEqual(parseStringList('[a,b,"c,d"]'), ['a', 'b', 'c,d']);
    assert.deepEqual(parseStringList('amx'), ['amx']);
    assert.equal(parseStringList('[a,"b]'), undefined);
  });

  it('tuple lists need enclosing brackets and one @ per item', () => {
    assert.deepEqual(parseTupleList('[0@[0,2],1@[1,3]]'), [
      { key: '0', value: '[0,2]' },
      { key: '1', value: '[1,3]' },
    ]);
    assert.deepEqual(parseTupleList('["@""b"@[1,2]]'), [{ key: '"@""b"', value: '[1,2]' }]);
    assert.equal(parseTupleList('0@1'), undefined);
    assert.equal(parseTupleList('[0@1@2]'), undefined);
    assert.equal(parseTupleList('[@1]'), undefined);
    assert.equal(parseTupleList('[01]'), undefined);
    assert.equal(parseTupleList('[]'), undefined);
    assert.equal(parseTupleList('[0@[1]'), undefined);
  });
});

describe('parseIndexedIntegerList', () => {
  it('reads index@[list] pairs within the given ranges', () => {
    assert.deepEqual(parseIndexedIntegerList({ key: '1', value: '[0,2-3]' }, 'u16', 'u64'), { index: 1, values: [0, 2, 3] });
    assert.equal(parseIndexedIntegerList({ key: '70000', value: '[0]' }, 'u16', 'u64'), undefined);
    assert.equal(parseIndexedIntegerList({ key: '1', value: '[x]' }, 'u16', 'u64'), undefined);
  });
});

describe('parseSubOptions', () => {
  it('reads key=value pairs, keeps "=" inside values and lets later keys win', () => {
    const options = parseSubOptions('--memory', 'size=128M,extra=foo=bar,size=1G', SPEC);
    assert.equal(options.raw('size'), '1G');
    assert.equal(options.raw('extra'), 'foo=bar');
    assert.equal(options.isSet('mergeable'), false);
  });

  it('treats an empty value as not given', () => {
    const options = parseSubOptions('--memory', 'size=', SPEC);
    assert.equal(options.isSet('size'), true);
    assert.equal(options.raw('size'), undefined);
    assert.equal(options.byteSize('size'), undefined);
  });

  it('accepts empty input', () => {
    assert.equal(parseSubOptions('--memory', '   ', SPEC).isSet('size'), false);
  });

  it('dequotes string values', () => {
    assert.equal(parseSubOptions('--x', 'cmdline="console=ttyS0,9600n8"', SPEC).string('cmdline'), 'console=ttyS0,9600n8');
  });

  it('sets valueless flags', () => {
    const options = parseSubOptions('--console', 'tty', SPEC);
    assert.equal(options.isSet('tty'), true);
    assert.equal(options.isSet('off'), false);
  });

  it('rejects unknown keys naming the option and the known keys', () => {
    assert.throws(
      () => parseSubOptions('--memory', 'size=128M,hanging_param', { values: ['size', 'shared'] }),
      cliError('UNKNOWN_KEY', '--memory: unknown key "hanging_param"; known keys are size, shared'),
    );
  });

  it('rejects a key without value and unbalanced input', () => {
    assert.throws(() => parseSubOptions('--memory', 'size', SPEC), cliError('INVALID_SYNTAX', '--memory: "size" needs a value: size=<value>'));
    assert.throws(
      () => parseSubOptions('--cpus', 'topology=[', SPEC),
      cliError('INVALID_SYNTAX', '--cpus: unbalanced quotes or brackets in "topology=["'),
    );
  });

  it('typed getters name the option, key and expected form', () => {
    const options = parseSubOptions('--memory', 'size=12X,mergeable=maybe,cpus=[3-1],mode=fast,topology=0@1', SPEC);
    assert.throws(() => options.byteSize('size'), cliError('INVALID_VALUE', '--memory: invalid value "12X" for "size": expected a size like 512M or 2G'));
    assert.throws(
      () => options.toggle('mergeable'),
      cliError('INVALID_VALUE', '--memory: invalid value "maybe" for "mergeable": expected on, off, true or false'),
    );
    assert.throws(
      () => options.integerList('cpus', 'u8'),
      cliError('INVALID_VALUE', '--memory: invalid value "[3-1]" for "cpus": expected a list like [0,2-4,6] of integers from 0 to 255'),
    );
    assert.throws(
      () => options.choice('mode', { slow: 'Slow', steady: 'Steady' }, true),
      cliError('INVALID_VALUE', '--memory: invalid value "fast" for "mode": expected one of slow, steady'),
    );
    assert.throws(
      () => options.tupleList('topology', 'a list like [0@1]', () => 1),
      cliError('INVALID_VALUE', '--memory: invalid value "0@1" for "topology": expected a list like [0@1]'),
    );
  });

  it('integer getter reports the range', () => {
    const options = parseSubOptions('--cpus', 'cpus=300', SPEC);
    assert.throws(() => options.integer('cpus', 'u8'), cliError('INVALID_VALUE', '--cpus: invalid value "300" for "cpus": expected an integer from 0 to 255'));
    assert.equal(options.integer('cpus', 'u16'), 300);
  });

  it('choice compares case-insensitively only when asked', () => {
    const options = parseSubOptions('--x', 'mode=ACPI', SPEC);
    assert.equal(options.choice('mode', { acpi: 'Acpi' }, true), 'Acpi');
    assert.throws(() => options.choice('mode', { acpi: 'Acpi' }, false), CliError);
  });

  it('tuple list getter converts every pair', () => {
    const options = parseSubOptions('--cpus', 'affinity=[0@[0,2],1@[1,3]]', SPEC);
    const pairs = options.tupleList('affinity', 'pairs', ({ key, value }) => ({ vcpu: Number(key), cpus: parseIntegerList(value, 'u32') }));
    assert.deepEqual(pairs, [
      { vcpu: 0, cpus: [0, 2] },
      { vcpu: 1, cpus: [1, 3] },
    ]);
  });

  it('requiredString reports a missing key', () => {
    assert.throws(
      () => parseSubOptions('--fs', 'size=1', SPEC).requiredString('cmdline', '<tag_name>'),
      cliError('MISSING_KEY', '--fs: cmdline=<tag_name> is required'),
    );
  });
});
