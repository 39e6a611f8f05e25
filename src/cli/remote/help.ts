/**
 * The help texts of nimbus-remote, laid out like ch-remote's clap output: the program help (commands and global
 * options) and each command's help (its argument syntax and options).
 */
import { REMOTE_COMMANDS, type RemoteCommand } from './commands.ts';

const INDENT = '  ';
const GAP = '  ';
/** clap lists `help` among the commands. */
const HELP_COMMAND = { name: 'help', about: 'Print this message or the help of the given subcommand(s)' };

export const REMOTE_USAGE = 'Usage: nimbus-remote [OPTIONS] <COMMAND>';

interface HelpEntry {
  label: string;
  help: string;
}

/** Entries as `  <label>  <help>` with the help column aligned. */
function entryLines(entries: readonly HelpEntry[], width: number): string[] {
  return entries.map((entry) => `${INDENT}${entry.label.padEnd(width)}${GAP}${entry.help}`.trimEnd());
}

function widest(entries: readonly HelpEntry[]): number {
  return Math.max(...entries.map((entry) => entry.label.length));
}

export function remoteHelpText(): string {
  const commands = [...REMOTE_COMMANDS, HELP_COMMAND].map((command) => ({ label: command.name, help: command.about }));
  const options = [
    { label: '    --api-socket <api-socket>', help: 'HTTP API socket path (UNIX domain socket).' },
    { label: '-h, --help', help: 'Print help' },
    { label: '-V, --version', help: 'Print version' },
  ];
  return [
    "Remotely control a nimbus VMM through its API socket (command line compatible with Cloud Hypervisor's ch-remote).",
    '',
    REMOTE_USAGE,
    '',
    'Commands:',
    ...entryLines(commands, widest(commands)),
    '',
    'Options:',
    ...entryLines(options, widest(options)),
    '',
    'A 2xx answer prints its body, if any, on standard output (exit status 0). An error answer prints the',
    "VMM's error messages on standard error, as do a wrong command line and an unreachable VMM (exit status 1).",
  ].join('\n');
}

function positionalLabel(command: RemoteCommand): string | undefined {
  const spec = command.positional;
  if (spec === undefined) return undefined;
  return spec.defaultValue === undefined ? `<${spec.name}>` : `[${spec.name}]`;
}

export function commandHelpText(command: RemoteCommand): string {
  const usage = [`Usage: nimbus-remote ${command.name}`];
  const options = command.options ?? [];
  for (const option of options.filter((spec) => spec.required)) usage.push(`--${option.name} <${option.name}>`);
  if (options.some((spec) => !spec.required)) usage.push('[OPTIONS]');
  const argumentLabel = positionalLabel(command);
  if (argumentLabel !== undefined) usage.push(argumentLabel);

  const argumentEntries: HelpEntry[] = [];
  if (argumentLabel !== undefined && command.positional !== undefined) {
    const { help, defaultValue } = command.positional;
    argumentEntries.push({ label: argumentLabel, help: defaultValue === undefined ? help : `${help} [default: ${defaultValue}]` });
  }
  const optionEntries: HelpEntry[] = [
    ...options.map((spec) => ({ label: `    --${spec.name} <${spec.name}>`, help: spec.help })),
    { label: '-h, --help', help: 'Print help' },
  ];
  const width = widest([...argumentEntries, ...optionEntries]);
  const lines = [command.about, '', usage.join(' '), ''];
  if (argumentEntries.length > 0) lines.push('Arguments:', ...entryLines(argumentEntries, width), '');
  lines.push('Options:', ...entryLines(optionEntries, width));
  return lines.join('\n');
}
