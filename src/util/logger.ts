/**
 * Logging contract and levels. Cloud Hypervisor's `-v` count maps 0=warn, 1=info, 2=debug, 3+=trace. Pure: the
 * sink that writes lines is supplied by the caller (host/log-sink.ts writes to stderr or --log-file).
 */

export const LOG_LEVELS = ['error', 'warn', 'info', 'debug', 'trace'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface Logger {
  error(message: string): void;
  warn(message: string): void;
  info(message: string): void;
  debug(message: string): void;
  trace(message: string): void;
  enabled(level: LogLevel): boolean;
}

/** Maps the number of `-v` flags to the most verbose level that is printed. */
export function levelFromVerbosity(count: number): LogLevel {
  return LOG_LEVELS[Math.min(1 + count, LOG_LEVELS.length - 1)]!;
}

/**
 * Builds a logger that formats `nimbus: <seconds since start>s: <thread> LEVEL -- message` lines and hands them to
 * `writeLine`. `now` returns seconds since VMM start.
 */
export function createLogger(options: {
  level: LogLevel;
  thread: string;
  now: () => number;
  writeLine: (line: string) => void;
}): Logger {
  const threshold = LOG_LEVELS.indexOf(options.level);
  const enabled = (level: LogLevel): boolean => LOG_LEVELS.indexOf(level) <= threshold;
  const emit = (level: LogLevel, message: string): void => {
    if (!enabled(level)) return;
    options.writeLine(`nimbus: ${options.now().toFixed(6)}s: <${options.thread}> ${level.toUpperCase()} -- ${message}`);
  };
  return {
    error: (m) => emit('error', m),
    warn: (m) => emit('warn', m),
    info: (m) => emit('info', m),
    debug: (m) => emit('debug', m),
    trace: (m) => emit('trace', m),
    enabled,
  };
}

/** A logger that drops everything; for unit tests. */
export const silentLogger: Logger = {
  error: () => {},
  warn: () => {},
  info: () => {},
  debug: () => {},
  trace: () => {},
  enabled: () => false,
};
