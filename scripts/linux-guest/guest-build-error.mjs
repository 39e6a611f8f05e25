// The error the Linux guest build scripts throw for failures the user can act on: printed without a stack trace.
export class GuestBuildError extends Error {}
