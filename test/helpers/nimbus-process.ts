/** Runs the built `nimbus` command (bin/nimbus -> dist/) as a child process, for integration tests and benchmarks. */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Absolute path of bin/nimbus (this file is compiled to dist/test/helpers/). */
export const NIMBUS_BIN = fileURLToPath(new URL('../../../bin/nimbus', import.meta.url));

export interface NimbusRun {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs nimbus with `args`; resolves when it exits (or is killed after `timeoutMs`). */
export function runNimbus(args: readonly string[], options: { timeoutMs?: number } = {}): Promise<NimbusRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [NIMBUS_BIN, ...args],
      { timeout: options.timeoutMs ?? 60_000, maxBuffer: 16 << 20, encoding: 'utf8' },
      (error, stdout, stderr) => {
        const status = error ? (typeof error.code === 'number' ? error.code : null) : 0;
        resolve({ status, signal: (error?.signal as NodeJS.Signals | undefined) ?? null, stdout, stderr });
      },
    );
  });
}
