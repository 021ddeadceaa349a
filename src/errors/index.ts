/** The error family, one class per file; everyone imports it from here. */
export { SwitchboardError, type ErrorCode } from './switchboard-error.js';
export { ProviderError, type ProviderFailureKind } from './provider-error.js';
export { ToolExecutionError } from './tool-execution-error.js';
export { ConfigError } from './config-error.js';
export { CredentialInvalidError, type CredentialIssue } from './credential-invalid-error.js';
export { CredentialUnreadableError, type CredentialUnreadableReason } from './credential-unreadable-error.js';
export { MasterKeyMissingError } from './master-key-missing-error.js';
export { kindForStatus, TRANSIENT_KINDS, type OutboundErrorKind, type StatusKind } from './outbound-error.js';
