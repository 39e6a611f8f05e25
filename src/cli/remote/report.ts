/**
 * How nimbus-remote reports failures on standard error, following ch-remote: usage errors as clap prints them
 * (`error: ...`), other errors as Cloud Hypervisor's error chain (`Error: ... exited with the following chain of
 * errors:` and one numbered line per cause), and an HTTP error answer as the chain `http client error`,
 * `Server responded with <status>`, then the VMM's messages (the answer body is a JSON array of strings, outermost
 * error first).
 */
import type { ApiResponse } from './http-message.ts';
import { isUsageError, type RemoteError } from './remote-error.ts';

const PROGRAM = 'nimbus-remote';

/**
 * Status names as ch-remote's api_client prints them (Rust `Debug` of its StatusCode) for the codes it knows; the
 * other codes the Nimbus API answers are named the same way (ch-remote would print `Unknown` for them).
 */
const STATUS_NAMES: Readonly<Record<number, string>> = {
  100: 'Continue',
  200: 'Ok',
  204: 'NoContent',
  400: 'BadRequest',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  409: 'Conflict',
  429: 'TooManyRequests',
  500: 'InternalServerError',
  501: 'NotImplemented',
};

function statusName(status: number): string {
  return STATUS_NAMES[status] ?? `Unknown (HTTP ${status})`;
}

function chain(messages: readonly string[]): string {
  if (messages.length === 1) return `Error: ${PROGRAM} exited with the following error:\n  ${messages[0]}\n`;
  const lines = messages.map((message, level) => `  ${level}: ${message}`);
  return `Error: ${PROGRAM} exited with the following chain of errors:\n${lines.join('\n')}\n`;
}

/** The messages of `error` and of each Error in its `cause` chain, outermost first. */
function causeMessages(error: Error): string[] {
  const messages = [error.message];
  let cause = error.cause;
  while (cause instanceof Error) {
    messages.push(cause.message);
    cause = cause.cause;
  }
  return messages;
}

export function formatRemoteError(error: RemoteError): string {
  return isUsageError(error) ? `error: ${error.message}\n` : chain(causeMessages(error));
}

/** The VMM's error messages from an error answer's body, or why the body is not a JSON array of strings. */
function serverMessages(body: string): { messages: string[] } | { problem: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch (error) {
    return { problem: (error as Error).message };
  }
  return Array.isArray(parsed) && parsed.every((item) => typeof item === 'string')
    ? { messages: parsed }
    : { problem: 'expected a JSON array of strings' };
}

/**
 * An error answer. A body that is not a JSON array of strings is shown as ch-remote shows it, on a line marked `X`
 * (ch-remote then leaves out the status line; it is kept here).
 */
export function formatErrorResponse(response: ApiResponse): string {
  const result = serverMessages(response.body);
  const status = `Server responded with ${statusName(response.status)}`;
  if ('messages' in result) return chain(['http client error', status, ...result.messages]);
  const unreadable = `  X: Can't get remote's error messages from JSON response: ${result.problem}: body='${response.body}'\n`;
  return chain(['http client error', status]) + unreadable;
}
