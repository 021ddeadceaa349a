import type { Config } from '../config/config.js';
import type { ChainPolicySettings } from './chain-policy.js';

/** The model chain's retry, timeout and breaker settings, from config. */
export function chainPolicyFrom(config: Config): ChainPolicySettings {
  return {
    retries: config.LLM_RETRIES,
    maxAttempts: config.LLM_MAX_ATTEMPTS,
    retryBaseMs: config.LLM_RETRY_BASE_MS,
    retryMaxDelayMs: config.LLM_RETRY_MAX_DELAY_MS,
    firstTokenTimeoutMs: config.LLM_FIRST_TOKEN_TIMEOUT_MS,
    attemptTimeoutMs: config.LLM_ATTEMPT_TIMEOUT_MS,
    turnTimeoutMs: config.LLM_TURN_TIMEOUT_MS,
    fallbackAfterMs: config.FALLBACK_AFTER_MS,
    breaker: {
      failureRatio: config.BREAKER_FAILURE_RATIO,
      windowMs: config.BREAKER_WINDOW_MS,
      minRequests: config.BREAKER_MIN_REQUESTS,
      halfOpenAfterMs: config.BREAKER_HALF_OPEN_AFTER_MS,
    },
  };
}
