import { z } from 'zod';
import type { HubSpotClient } from './hubspot/hubspot-client.js';
import { emailField, strictFields } from './tool-inputs.js';
import { defineTool, type Tool } from './tool.js';

export interface CrmLead {
  contactId: string;
  email: string;
  /** False when a contact with this email already existed and was updated instead. */
  created: boolean;
}

const FIELDS = ['email', 'name', 'company', 'phone', 'notes'];
const text = (name: string, max: number) =>
  z.string({ error: `${name} must be text` }).trim().min(1, { error: `${name} must not be empty` }).max(max, { error: `${name} must be at most ${max} characters` });

export const crmLeadInput = z
  .object(
    {
      email: emailField('email'),
      name: text('name', 200).optional().describe('Full name; split into first and last name.'),
      company: text('company', 200).optional(),
      phone: z
        .string({ error: 'phone must be text' })
        .trim()
        .regex(/^\+?[0-9 ()./-]{5,32}$/, { error: 'phone must be a phone number such as +44 20 7946 0958' })
        .optional(),
      notes: text('notes', 2000).optional().describe('What the person wants; stored on the contact.'),
    },
    strictFields(FIELDS),
  )
  .strict();

export type CrmLeadInput = z.output<typeof crmLeadInput>;

export function createCrmLeadTool(options: { hubspot: HubSpotClient }): Tool<CrmLeadInput, CrmLead> {
  return defineTool({
    name: 'create_crm_lead',
    description:
      'Record a sales lead in the CRM (HubSpot contact), deduplicated by email: an existing contact is updated, not duplicated.',
    input: crmLeadInput,
    confirmation: { summary: (input) => `Save ${input.email}${input.name ? ` (${input.name})` : ''} as a lead in the CRM.` },
    describeResult: (result) => `${result.created ? 'Saved' : 'Updated'} ${result.email} in the CRM.`,
    async execute(input, context) {
      const [firstname, ...rest] = input.name?.split(/\s+/) ?? [];
      const contact = await options.hubspot.upsertByEmail(
        {
          email: input.email,
          ...(firstname !== undefined && { firstname }),
          ...(rest.length > 0 && { lastname: rest.join(' ') }),
          ...(input.company !== undefined && { company: input.company }),
          ...(input.phone !== undefined && { phone: input.phone }),
          ...(input.notes !== undefined && { message: input.notes }),
        },
        context.signal,
      );
      return { contactId: contact.id, email: input.email, created: contact.created };
    },
  });
}
