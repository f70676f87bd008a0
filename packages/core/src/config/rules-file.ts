/** The rules file (`.mcp-gateway-rules.json`) → `RulesFile`. */
import { RulesFileSchema, type RulesFile } from '../policy/rules.js';
import { readText } from './discovery.js';
import { configInvalidFromZod, parseJsonText, readableZodErrorMap } from './format.js';

/**
 * Loads and validates a rules file (`.mcp-gateway-rules.json`) against `RulesFileSchema`.
 * No variable expansion: rules hold no secrets.
 *
 * @throws GatewayError CONFIG_NOT_FOUND, CONFIG_INVALID (with file and JSON path)
 */
export function loadRules(file: string): RulesFile {
  return parseRules(readText(file, 'rules file'), file);
}

/** {@link loadRules} on text already read. */
export function parseRules(text: string, file: string): RulesFile {
  const parsed = RulesFileSchema.safeParse(parseJsonText(text, file), { error: readableZodErrorMap });
  if (!parsed.success) throw configInvalidFromZod(file, parsed.error.issues);
  return parsed.data;
}
