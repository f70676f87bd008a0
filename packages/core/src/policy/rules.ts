import { z } from 'zod';

/** Agent ids: letters, digits, `_`, `.`, `-`. */
export const AGENT_ID_PATTERN = /^[A-Za-z0-9_.-]+$/;

const Pattern = z.string().min(1, 'a pattern may not be empty');
const ServerPatterns = z.array(Pattern);
const ToolPatterns = z.record(z.string().min(1), z.array(Pattern));

const PermissionSet = z.strictObject({
  servers: ServerPatterns.optional(),
  tools: ToolPatterns.optional(),
});

export const AgentRulesSchema = z.strictObject({
  description: z.string().optional(),
  allow: PermissionSet.optional(),
  deny: PermissionSet.optional(),
});

/** `.mcp-gateway-rules.json` */
export const RulesFileSchema = z.strictObject({
  $schema: z.string().optional(),
  agents: z.record(
    z.string().regex(AGENT_ID_PATTERN, 'agent ids may only hold letters, digits, "_", "." and "-"'),
    AgentRulesSchema,
  ),
  defaults: z
    .strictObject({
      deny_on_missing_agent: z.boolean().optional(),
    })
    .optional(),
});

export type AgentRules = z.infer<typeof AgentRulesSchema>;
export type RulesFile = z.infer<typeof RulesFileSchema>;
