import { PolicyEngine } from '@agent-mcp-gateway/core';
import type { CliArgs } from './args.js';
import { loadConfigFor } from './context.js';

/** `validate`: loads everything a `serve` would; config errors propagate (exit 1 in main). */
export async function runValidate(args: CliArgs): Promise<number> {
  const config = await loadConfigFor(args);
  const warnings = [...config.warnings];
  if (config.rules) {
    const engine = new PolicyEngine(config.rules, { defaultAgent: config.settings.defaultAgent });
    const prefix = config.sources.rules ? `${config.sources.rules}: ` : '';
    // The engine's paths are relative (`agents.x.allow…`); print them rooted, like every other config path.
    warnings.push(...engine.warnings(config.servers.map((s) => s.name)).map((w) => `${prefix}$.${w}`));
  }
  for (const warning of warnings) process.stderr.write(`warning: ${warning}\n`);
  const agents = config.rules ? Object.keys(config.rules.agents).length : 0;
  process.stdout.write(
    `ok: ${config.sources.config} (${config.servers.length} servers)` +
      (config.sources.rules ? `, ${config.sources.rules} (${agents} agents)` : ', no rules file (every agent may use every server)') +
      (config.sources.settings ? `, settings ${config.sources.settings}` : ', no settings file (defaults and GATEWAY_* variables)') +
      (warnings.length ? `, ${warnings.length} warning(s)` : '') +
      '\n',
  );
  return 0;
}
