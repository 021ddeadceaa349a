import { z } from 'zod';
import { emptyAsUndefined } from './env-fields.js';

/*
 * Which integrations a workspace can hold credentials for, and how each one's credentials are
 * chosen (WORKSPACE_CREDENTIALS). A zod-only leaf, so config.ts can validate the setting; the
 * fields of each integration live in src/workspaces/integrations.ts.
 */

export const INTEGRATION_NAMES = ['openai', 'anthropic', 'groq', 'stripe', 'google', 'hubspot', 'twilio', 'whatsapp-cloud', 'slack'] as const;
export type IntegrationName = (typeof INTEGRATION_NAMES)[number];

/**
 * `global`: every workspace uses the deployment's environment. `workspace`: each workspace brings its
 * own (the environment's serves the default workspace only). `override`: the environment's, unless
 * the workspace stored its own.
 */
export const CREDENTIAL_MODES = ['global', 'workspace', 'override'] as const;
export type CredentialMode = (typeof CREDENTIAL_MODES)[number];
export const DEFAULT_CREDENTIAL_MODE: CredentialMode = 'override';

const isIntegration = (name: string): name is IntegrationName => (INTEGRATION_NAMES as readonly string[]).includes(name);
const isMode = (mode: string): mode is CredentialMode => (CREDENTIAL_MODES as readonly string[]).includes(mode);

/** `openai=workspace,stripe=override` → `{ openai: 'workspace', stripe: 'override' }`; unset: every integration `override`. */
export const credentialModesSetting = z.preprocess(
  emptyAsUndefined,
  z
    .string()
    .optional()
    .transform((value, ctx) => {
      const modes: Partial<Record<IntegrationName, CredentialMode>> = {};
      for (const entry of (value ?? '').split(',').map((item) => item.trim()).filter(Boolean)) {
        const [name = '', mode = '', ...rest] = entry.split('=').map((part) => part.trim().toLowerCase());
        if (!isIntegration(name)) {
          ctx.addIssue({ code: 'custom', message: `unknown integration "${name}" (expected ${INTEGRATION_NAMES.join(', ')})` });
          return z.NEVER;
        }
        if (!isMode(mode) || rest.length > 0) {
          ctx.addIssue({ code: 'custom', message: `${name}: expected ${name}=${CREDENTIAL_MODES.join('|')}` });
          return z.NEVER;
        }
        modes[name] = mode;
      }
      return modes;
    }),
);
