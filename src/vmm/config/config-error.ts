/**
 * The error raised when a VM configuration is invalid or asks for something Nimbus does not build yet. Every error
 * names the offending `VmConfig` field (dotted path, as in the REST API JSON) and the equivalent command-line option,
 * so the CLI and the API can both report it; the code lets the API map it to an HTTP status (409 for duplicates).
 */
import { NimbusError } from '../../errors/nimbus-error.ts';
import { optionForField } from './option-names.ts';

export const CONFIG_ERROR_CODES = [
  /** A field holds a value outside its allowed range or format. */
  'INVALID_VALUE',
  /** Two fields contradict each other (e.g. `ip` without `mask`). */
  'CONFLICTING_VALUES',
  /** A field that is required in this context is missing (e.g. `file` in file console mode). */
  'MISSING_VALUE',
  /** Neither a kernel nor a firmware: "Payload configuration is not bootable". */
  'PAYLOAD_NOT_BOOTABLE',
  /** `cpus.max_vcpus` < `cpus.boot_vcpus`. */
  'CPUS_MAX_LOWER_THAN_BOOT',
  /** The CPU topology does not describe `max_vcpus` CPUs, has a zero part or too many threads per core. */
  'INVALID_CPU_TOPOLOGY',
  /** `hugepage_size` without `hugepages=on`, or not a power of two. */
  'INVALID_HUGEPAGES',
  /** A vhost-user or vfio-user device needs shared memory or huge pages. */
  'SHARED_MEMORY_REQUIRED',
  /** A device identifier is used twice. */
  'IDENTIFIER_NOT_UNIQUE',
  /** A device identifier starts with the reserved prefix `__`. */
  'IDENTIFIER_RESERVED',
  /** The same host device path is assigned twice. */
  'DUPLICATE_DEVICE_PATH',
  /** A PCI segment or device slot outside what the platform provides. */
  'INVALID_PCI_PLACEMENT',
  /** A valid Cloud Hypervisor setting that Nimbus does not implement yet. */
  'UNSUPPORTED',
] as const;
export type ConfigErrorCode = (typeof CONFIG_ERROR_CODES)[number];

export class ConfigError extends NimbusError {
  /** Dotted path of the offending field in `VmConfig` (or `VmmOptions`), e.g. `disks[1].id`. */
  readonly field: string;

  constructor(code: ConfigErrorCode, field: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.field = field;
  }
}

/**
 * Builds a ConfigError whose message starts with the CLI option and ends with the JSON field path in brackets:
 * `--cpus: max=1 is lower than boot=2; raise max or lower boot [cpus.max_vcpus]`.
 */
export function configError(code: ConfigErrorCode, field: string, problem: string): ConfigError {
  return new ConfigError(code, field, `${optionForField(field)}: ${problem} [${field}]`);
}
