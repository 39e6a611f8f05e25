/**
 * The error raised by nimbus-remote: a malformed command line (printed clap-style as `error: ...`, exit 1), a
 * command argument that does not parse, a file descriptor argument that is not open, an input file that cannot be
 * read, or a failed exchange with the VMM's API socket (printed as Cloud Hypervisor's ch-remote prints its error
 * chain, exit 1). An HTTP error answer from the VMM is not an exception: the entry point prints its error messages.
 */
import { NimbusError } from '../../errors/nimbus-error.ts';

export const REMOTE_USAGE_ERROR_CODES = [
  /** A command name nimbus-remote does not know. */
  'UNKNOWN_COMMAND',
  /** An option or positional argument the command (or the program) does not take. */
  'UNKNOWN_ARGUMENT',
  /** A required argument or option value is missing, or no command was given. */
  'MISSING_ARGUMENT',
  /** An option given twice. */
  'DUPLICATE_ARGUMENT',
  /** A command that talks to the VMM without `--api-socket <path>`. */
  'MISSING_API_SOCKET',
] as const;

export const REMOTE_ERROR_CODES = [
  ...REMOTE_USAGE_ERROR_CODES,
  /** A command argument that does not parse (device syntax, size, count, migration URL, ...). */
  'INVALID_ARGUMENT',
  /** A file descriptor argument naming a descriptor that nimbus-remote does not have open. */
  'DESCRIPTOR_NOT_OPEN',
  /** The VmConfig file (or standard input) of `create` cannot be read. */
  'READ_FAILED',
  /** The API socket cannot be connected to. */
  'CONNECT_FAILED',
  /** Writing the request or reading the answer failed. */
  'SOCKET_FAILED',
  /** The VMM's answer is not a well-formed HTTP/1.1 response. */
  'INVALID_RESPONSE',
] as const;

export type RemoteUsageErrorCode = (typeof REMOTE_USAGE_ERROR_CODES)[number];
export type RemoteErrorCode = (typeof REMOTE_ERROR_CODES)[number];

export class RemoteError extends NimbusError<RemoteErrorCode> {}

export function isUsageError(error: RemoteError): boolean {
  return (REMOTE_USAGE_ERROR_CODES as readonly string[]).includes(error.code);
}

/** A usage error, ending like clap's with where to find the help (of `command` when given). */
export function usageError(code: RemoteUsageErrorCode, message: string, command?: string): RemoteError {
  const help = command === undefined ? 'nimbus-remote --help' : `nimbus-remote ${command} --help`;
  return new RemoteError(code, `${message}\n\nFor more information, try '${help}'.`);
}
