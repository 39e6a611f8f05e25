/**
 * Base error class for Nimbus. Every module defines one subclass with stable string codes, so callers
 * (CLI, API) can map failures to exit codes and HTTP statuses without parsing messages.
 */
export class NimbusError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}
