/**
 * The error raised for a malformed command line: unknown options or sub-option keys, bad values, missing values,
 * repeated options. Messages name the option (and key) and say what was expected; the entry point prints the message
 * and exits with status 1, without a stack trace.
 */
import { NimbusError } from '../errors/nimbus-error.ts';

export const CLI_ERROR_CODES = [
  /** An argument that is not a known option (or a stray positional argument). */
  'UNKNOWN_OPTION',
  /** An option given twice that upstream accepts only once. */
  'DUPLICATE_OPTION',
  /** An option that needs a value got none, or a flag got one. */
  'MISSING_VALUE',
  /** A vm-config option without `--kernel`/`--firmware` (clap's `requires("vm-payload")`). */
  'MISSING_PAYLOAD',
  /** A sub-option key the option does not know. */
  'UNKNOWN_KEY',
  /** Unbalanced quotes or brackets, or `key` without `=value`. */
  'INVALID_SYNTAX',
  /** A value that cannot be converted (size, toggle, integer, list, choice). */
  'INVALID_VALUE',
  /** A required sub-option key is missing (e.g. `--fs` without `tag=`). */
  'MISSING_KEY',
  /** A key upstream accepts but ignores; rejected so that it cannot silently do nothing. */
  'IGNORED_KEY',
] as const;
export type CliErrorCode = (typeof CLI_ERROR_CODES)[number];

export class CliError extends NimbusError {
  constructor(code: CliErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
