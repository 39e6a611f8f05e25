/**
 * The `nimbus-remote` program (Cloud Hypervisor's ch-remote for Nimbus): parses the command line, sends the
 * command's request to the VMM's API socket (with the descriptors its arguments name, which nimbus-remote inherited
 * from its parent), prints a 2xx answer's body on standard output, and an error answer's messages on standard error.
 * Exit status 0 on a 2xx answer (or help/version); 1 for a wrong command line, a descriptor argument that is not
 * open, an unreadable input, an unreachable VMM, a malformed answer, or an error answer.
 */
import { fstatSync, readFileSync } from 'node:fs';
import { packageVersion } from '../../host/package-root.ts';
import { parseRemoteCommandLine } from './args.ts';
import { sendApiRequest } from './http-client.ts';
import { isSuccessStatus } from './http-message.ts';
import { RemoteError } from './remote-error.ts';
import { formatErrorResponse, formatRemoteError } from './report.ts';

/** Where nimbus-remote reads and writes; tests replace it. */
export interface RemoteIo {
  writeStdout(text: string): void;
  writeStderr(text: string): void;
  /** The contents of the file at `path`, or of standard input for `-`. */
  readInput(path: string): string;
  /** Whether `fd` (not negative) is an open descriptor of this process. */
  isOpenDescriptor(fd: number): boolean;
  version(): string;
}

function isOpenDescriptor(fd: number): boolean {
  try {
    fstatSync(fd);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EBADF') return false;
    throw error;
  }
}

export const processIo: RemoteIo = {
  writeStdout: (text) => process.stdout.write(text),
  writeStderr: (text) => process.stderr.write(text),
  readInput: (path) => readFileSync(path === '-' ? 0 : path, 'utf8'),
  isOpenDescriptor,
  version: packageVersion,
};

/** Runs nimbus-remote with `args` (without the program name); resolves to the process exit status. */
export async function main(args: readonly string[], io: RemoteIo = processIo): Promise<number> {
  try {
    const invocation = parseRemoteCommandLine(args, {
      readInput: (path) => io.readInput(path),
      warn: (message) => io.writeStderr(`warning: ${message}\n`),
      isOpenDescriptor: (fd) => io.isOpenDescriptor(fd),
    });
    switch (invocation.kind) {
      case 'help':
        (invocation.isError ? io.writeStderr : io.writeStdout)(`${invocation.text}\n`);
        return invocation.isError ? 1 : 0;
      case 'version':
        io.writeStdout(`nimbus-remote ${io.version()}\n`);
        return 0;
      case 'request': {
        const response = await sendApiRequest(invocation.apiSocket, invocation.request);
        if (!isSuccessStatus(response.status)) {
          io.writeStderr(formatErrorResponse(response));
          return 1;
        }
        // Printed as the VMM sent it, like ch-remote (the JSON of info, counters, ping, add-*).
        if (response.body !== '') io.writeStdout(`${response.body}\n`);
        return 0;
      }
    }
  } catch (error) {
    if (error instanceof RemoteError) {
      io.writeStderr(formatRemoteError(error));
      return 1;
    }
    throw error;
  }
}
