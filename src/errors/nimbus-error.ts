/**
 * Base error class for Nimbus. Every module defines one subclass with stable string codes, so callers
 * (CLI, API) can map failures to exit codes and HTTP statuses without parsing messages. A subclass names its codes:
 * `class AcpiError extends NimbusError<AcpiErrorCode> {}`.
 */
export class NimbusError<Code extends string = string> extends Error {
  readonly code: Code;

  constructor(code: Code, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}
