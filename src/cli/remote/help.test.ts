/** Tests for the nimbus-remote help texts: every command listed, each command's usage and argument syntax. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CLI_OPTIONS } from '../option-table.ts';
import { findCommand, REMOTE_COMMANDS } from './commands.ts';
import { commandHelpText, remoteHelpText } from './help.ts';

function helpOf(name: string): string[] {
  const command = findCommand(name);
  assert.ok(command !== undefined, name);
  return commandHelpText(command).split('\n');
}

describe('remoteHelpText', () => {
  const lines = remoteHelpText().split('\n');

  it('lists every command with its description in one aligned column, then help, then the options', () => {
    assert.equal(lines[2], 'Usage: nimbus-remote [OPTIONS] <COMMAND>');
    const start = lines.indexOf('Commands:') + 1;
    const listed = lines.slice(start, start + REMOTE_COMMANDS.length + 1);
    assert.deepEqual(
      listed,
      [...REMOTE_COMMANDS, { name: 'help', about: 'Print this message or the help of the given subcommand(s)' }].map(
        (command) => `  ${command.name.padEnd('add-generic-vhost-user'.length)}  ${command.about}`,
      ),
    );
    assert.ok(lines.includes('      --api-socket <api-socket>  HTTP API socket path (UNIX domain socket).'));
    assert.ok(lines.includes('  -V, --version                  Print version'));
  });

  it('lists the commands in ch-remote order (alphabetical)', () => {
    const names = REMOTE_COMMANDS.map((command) => command.name);
    assert.deepEqual(names, [...names].sort());
    assert.equal(names.length, 31);
  });
});

describe('commandHelpText', () => {
  it('shows an add command with the matching nimbus option syntax as its argument', () => {
    const disk = CLI_OPTIONS.find((spec) => spec.id === 'disk')?.help;
    assert.deepEqual(helpOf('add-disk'), [
      'Add block device',
      '',
      'Usage: nimbus-remote add-disk <disk_config>',
      '',
      'Arguments:',
      `  <disk_config>  ${disk}`,
      '',
      'Options:',
      '  -h, --help     Print help',
    ]);
  });

  it('shows the restore syntax line and the migration syntaxes', () => {
    assert.ok(helpOf('restore')[5]?.startsWith('  <restore_config>  Restore parameters "source_url=<source_url>,'));
    assert.ok(helpOf('send-migration')[5]?.includes('destination_url=<url>[,local=on|off,preserve_source=on|off,'));
    assert.ok(helpOf('receive-migration')[5]?.includes('receiver_url=<url>[,tls_dir=<path>]'));
  });

  it('shows defaults, required options and optional options in the usage line', () => {
    assert.deepEqual(helpOf('create').slice(2, 6), ['Usage: nimbus-remote create [path]', '', 'Arguments:', '  [path]      VmConfig JSON file, or - for standard input [default: -]']);
    assert.equal(helpOf('resize-zone')[2], 'Usage: nimbus-remote resize-zone --id <id> --size <size>');
    assert.deepEqual(helpOf('resize').slice(2), [
      'Usage: nimbus-remote resize [OPTIONS]',
      '',
      'Options:',
      '      --balloon <balloon>  New balloon size in bytes (supports K/M/G suffix)',
      '      --cpus <cpus>        New vCPUs count',
      '      --memory <memory>    New memory size in bytes (supports K/M/G suffix)',
      '  -h, --help               Print help',
    ]);
    assert.deepEqual(helpOf('ping'), ['Ping the VMM to check for API server availability', '', 'Usage: nimbus-remote ping', '', 'Options:', '  -h, --help  Print help']);
  });
});
