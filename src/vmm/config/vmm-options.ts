/**
 * Options of the VMM process itself (not of the VM): API socket, event monitor, logging, seccomp, `--restore`.
 * The CLI fills them from `--api-socket`, `--event-monitor`, `--log-file`, `--log-format`, `-v`, `--seccomp`,
 * `--no-shutdown` and `--restore`; `RestoreConfig` mirrors the OpenAPI schema used by `vm.restore` as well.
 */

/** A Unix socket or file given by path, or an already open file descriptor inherited from the parent. */
export type PathOrFd = { path: string } | { fd: number };

/** `--seccomp`: Trap (`true`), Allow (`false`), Log, or Errno(EPERM). */
export const SECCOMP_MODES = ['true', 'false', 'log', 'errno'] as const;
export type SeccompMode = (typeof SECCOMP_MODES)[number];

export type MemoryRestoreMode = 'Copy' | 'OnDemand';

export interface RestoredNetConfig {
  id: string;
  num_fds: number;
  fds?: number[];
}

export interface RestoredVfioConfig {
  id: string;
  fd?: number;
}

export interface VmMemoryZoneUpdateData {
  id: string;
  host_numa_node: number;
}

export interface RestoreConfig {
  source_url: string;
  prefault: boolean;
  memory_restore_mode: MemoryRestoreMode;
  net_fds?: RestoredNetConfig[];
  vfio_fds?: RestoredVfioConfig[];
  iommufd_fd?: number;
  resume: boolean;
  zone_updates: VmMemoryZoneUpdateData[];
}

export interface VmmOptions {
  apiSocket?: PathOrFd;
  eventMonitor?: PathOrFd;
  /** Log to this file instead of standard error. */
  logFile?: string;
  /** A custom log line format; absent means the built-in format. */
  logFormat?: string;
  /** Number of `-v` flags: 0 = warn, 1 = info, 2 = debug, 3+ = trace. */
  verbosity: number;
  /** Absent means upstream's default (`true`, i.e. trap). */
  seccomp?: SeccompMode;
  /** Keep the VMM running after the guest shuts down. */
  noShutdown: boolean;
  restore?: RestoreConfig;
}
