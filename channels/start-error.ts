/** Why a host could not start. Stable codes, as in the error catalog; these never reach a client. */
export type StartErrorCode = 'DATA_DIR_EXPOSED' | 'DATA_DIR_UNSEALED' | 'KEY_MISSING' | 'KEY_WRONG' | 'KEYRING_DAMAGED' | 'DATA_DIR_IN_USE' | 'DATA_DIR_DAMAGED' | 'DATA_DIR_IN_REALM' | 'HOST_ID_TAKEN' | 'PORT_IN_USE' | 'RULESET_FAILED';

/**
 * A host that cannot start says why, in words an operator can act on (the CLI prints the message
 * alone). It may name server paths: it goes to the operator's terminal, not to clients.
 */
export class StartError extends Error {
  constructor(
    readonly code: StartErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'StartError';
  }
}
