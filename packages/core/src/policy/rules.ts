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

/** A hashed API key: `sha256:` and the 64 lower-case hex digits of the SHA-256 of the key's UTF-8 bytes. */
export const API_KEY_HASH_PATTERN = /^sha256:[0-9a-f]{64}$/;

export const AgentRulesSchema = z.strictObject({
  description: z.string().optional(),
  allow: PermissionSet.optional(),
  deny: PermissionSet.optional(),
  /**
   * Credentials of this agent when the gateway serves over HTTP: hashes of its API keys
   * (`sha256:<hex>`; the keys themselves are never written down). A request carrying one
   * acts for this agent, and for no other.
   */
  api_keys: z
    .array(z.string().regex(API_KEY_HASH_PATTERN, 'expected "sha256:" and 64 lower-case hex digits (the SHA-256 of the key)'))
    .optional(),
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
}).superRefine((rules, ctx) => {
  // One key, one agent: a hash listed twice would make the identity depend on the file's order.
  const owner = new Map<string, string>();
  for (const [agent, agentRules] of Object.entries(rules.agents)) {
    for (const [index, hash] of (agentRules.api_keys ?? []).entries()) {
      const first = owner.get(hash);
      if (first !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['agents', agent, 'api_keys', index],
          message: first === agent ? 'this key is listed twice' : `this key already belongs to agent "${first}"; a key identifies one agent`,
        });
      } else owner.set(hash, agent);
    }
  }
});

export type AgentRules = z.infer<typeof AgentRulesSchema>;
export type RulesFile = z.infer<typeof RulesFileSchema>;
