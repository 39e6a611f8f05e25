/**
 * Parsing of the test guests' report lines: numbers (decimal or 0x hex) and `key=field=value field=value` records,
 * shared by the report parsers of the guests (guest-report.ts, test/guests/virtio-guest.ts). Each parser passes the
 * error its own callers expect.
 */

/** Builds the error a parser throws for malformed guest output. */
export type MalformedReport = (message: string) => Error;

export function parseGuestNumber(text: string, what: string, malformed: MalformedReport): number {
  const value = /^0x[0-9a-f]+$/i.test(text) || /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value)) throw malformed(`${what}: "${text}" is not a number`);
  return value;
}

/** The `field=value` pairs of one record line. Each field is read once; done() rejects fields nobody read. */
export class GuestRecord {
  readonly key: string;
  private readonly fields = new Map<string, string>();
  private readonly malformed: MalformedReport;

  /** `decode` turns a raw value into text (e.g. undoing the guest's \xNN escapes). */
  constructor(key: string, value: string, malformed: MalformedReport, decode: (raw: string) => string = (raw) => raw) {
    this.key = key;
    this.malformed = malformed;
    for (const part of value.split(' ')) {
      const eq = part.indexOf('=');
      if (eq <= 0) throw malformed(`${key}: "${part}" is not field=value`);
      this.fields.set(part.slice(0, eq), decode(part.slice(eq + 1)));
    }
  }

  text(field: string): string {
    const value = this.fields.get(field);
    if (value === undefined) throw this.malformed(`${this.key}: field ${field} is missing`);
    this.fields.delete(field);
    return value;
  }

  number(field: string): number {
    return parseGuestNumber(this.text(field), `${this.key}.${field}`, this.malformed);
  }

  optionalNumber(field: string): number | undefined {
    return this.fields.has(field) ? this.number(field) : undefined;
  }

  /** Throws if a field was not read: the guest printed something the parser does not know. */
  done(): void {
    if (this.fields.size > 0) throw this.malformed(`${this.key}: unknown fields ${[...this.fields.keys()].join(', ')}`);
  }
}
