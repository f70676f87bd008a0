/** What `init` writes: a starting point that validates as is. */
export const SERVERS_TEMPLATE = {
  mcpServers: {
    memory: {
      description: 'Knowledge graph memory (published MCP server from npm)',
      command: 'npx',
      args: ['-y', '@modelcontextprotocol/server-memory'],
    },
  },
};

export const RULES_TEMPLATE = {
  agents: {
    default: {
      description: 'Used when a client does not pass agent_id',
      allow: { servers: ['*'] },
    },
  },
  defaults: { deny_on_missing_agent: false },
};
