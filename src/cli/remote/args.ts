/**
 * Parses a nimbus-remote command line (the arguments after the program name) the way ch-remote's clap definition
 * does: global options (`--api-socket`, `-h`, `-V`) before the command, then the command with its one positional
 * argument and `--name <value>` options, `help [command]`, and `--` to end options. The command's request (method,
 * endpoint, JSON body) is built here too, so that every argument error is reported before the VMM is contacted.
 * Usage errors are RemoteError with a usage code; the entry point prints them and exits with status 1.
 */
import type { ApiRequest } from './http-message.ts';
import { CommandArguments, type CommandContext, findCommand, REMOTE_COMMANDS, type RemoteCommand } from './commands.ts';
import { commandHelpText, REMOTE_USAGE, remoteHelpText } from './help.ts';
import { usageError } from './remote-error.ts';

export type RemoteInvocation =
  /** Print `text`; `isError` (no arguments at all, as clap's arg_required_else_help) prints it on stderr, status 1. */
  | { kind: 'help'; text: string; isError: boolean }
  | { kind: 'version' }
  | { kind: 'request'; apiSocket: string; request: ApiRequest };

function looksLikeOption(arg: string): boolean {
  return arg.startsWith('-') && arg.length > 1;
}

function unexpected(arg: string, command?: string): never {
  const hint = arg === '--api-socket' || arg.startsWith('--api-socket=')
    ? '\n\n  tip: --api-socket goes before the command: nimbus-remote --api-socket <path> <command>'
    : '';
  throw usageError('UNKNOWN_ARGUMENT', `unexpected argument '${arg}' found${hint}`, command);
}

/** The value of option `--name` given as `--name=value` or `--name value`, and the index of the next argument. */
function optionValue(
  name: string,
  attached: string | undefined,
  args: readonly string[],
  index: number,
  command?: string,
): { value: string; next: number } {
  if (attached !== undefined) return { value: attached, next: index };
  const value = args[index];
  if (value === undefined || looksLikeOption(value)) {
    throw usageError('MISSING_ARGUMENT', `a value is required for '--${name} <${name}>' but none was supplied`, command);
  }
  return { value, next: index + 1 };
}

function splitLongOption(arg: string): { name: string; attached: string | undefined } {
  const equals = arg.indexOf('=');
  if (equals === -1) return { name: arg.slice(2), attached: undefined };
  return { name: arg.slice(2, equals), attached: arg.slice(equals + 1) };
}

function duplicate(name: string, command?: string): never {
  throw usageError('DUPLICATE_ARGUMENT', `the argument '--${name} <${name}>' cannot be used multiple times`, command);
}

function unknownCommand(name: string): never {
  const names = REMOTE_COMMANDS.map((command) => command.name).join(', ');
  throw usageError('UNKNOWN_COMMAND', `unrecognized subcommand '${name}'\n\n  commands: ${names}\n\n${REMOTE_USAGE}`);
}

function commandNamed(name: string): RemoteCommand {
  return findCommand(name) ?? unknownCommand(name);
}

/** The command's arguments, or 'help' when `-h`/`--help` appears among them. */
function parseCommandArguments(command: RemoteCommand, args: readonly string[]): CommandArguments | 'help' {
  let positional: string | undefined;
  const options = new Map<string, string>();
  let optionsEnded = false;
  let index = 0;
  while (index < args.length) {
    const arg = args[index++] ?? '';
    if (!optionsEnded && arg === '--') {
      optionsEnded = true;
    } else if (!optionsEnded && (arg === '-h' || arg === '--help')) {
      return 'help';
    } else if (!optionsEnded && arg.startsWith('--')) {
      const { name, attached } = splitLongOption(arg);
      if (!command.options?.some((spec) => spec.name === name)) unexpected(arg, command.name);
      if (options.has(name)) duplicate(name, command.name);
      const { value, next } = optionValue(name, attached, args, index, command.name);
      options.set(name, value);
      index = next;
    } else if (!optionsEnded && looksLikeOption(arg)) {
      unexpected(arg, command.name);
    } else if (command.positional !== undefined && positional === undefined) {
      positional = arg;
    } else {
      unexpected(arg, command.name);
    }
  }
  return new CommandArguments(command, positional, options);
}

/** `help` alone or `help <command>`. */
function helpFor(args: readonly string[]): RemoteInvocation {
  const [name, extra] = args;
  if (extra !== undefined) unexpected(extra);
  const text = name === undefined ? remoteHelpText() : commandHelpText(commandNamed(name));
  return { kind: 'help', text, isError: false };
}

export function parseRemoteCommandLine(args: readonly string[], context: CommandContext): RemoteInvocation {
  if (args.length === 0) return { kind: 'help', text: remoteHelpText(), isError: true };
  let apiSocket: string | undefined;
  let index = 0;
  let commandName: string | undefined;
  while (index < args.length && commandName === undefined) {
    const arg = args[index++] ?? '';
    if (arg === '-h' || arg === '--help') return { kind: 'help', text: remoteHelpText(), isError: false };
    if (arg === '-V' || arg === '--version') return { kind: 'version' };
    if (arg.startsWith('--')) {
      const { name, attached } = splitLongOption(arg);
      if (name !== 'api-socket') unexpected(arg);
      if (apiSocket !== undefined) duplicate(name);
      const { value, next } = optionValue(name, attached, args, index);
      apiSocket = value;
      index = next;
    } else if (looksLikeOption(arg)) {
      unexpected(arg);
    } else {
      commandName = arg;
    }
  }
  if (commandName === undefined) {
    throw usageError('MISSING_ARGUMENT', `'nimbus-remote' requires a subcommand but one was not provided\n\n${REMOTE_USAGE}`);
  }
  const rest = args.slice(index);
  if (commandName === 'help') return helpFor(rest);
  const command = commandNamed(commandName);
  const commandArguments = parseCommandArguments(command, rest);
  if (commandArguments === 'help') return { kind: 'help', text: commandHelpText(command), isError: false };
  if (apiSocket === undefined) {
    throw usageError(
      'MISSING_API_SOCKET',
      `${command.name} talks to a VMM: give its API socket with --api-socket <path> before the command`,
    );
  }
  return { kind: 'request', apiSocket, request: command.request(commandArguments, context) };
}
