import { StdioClientTransport, getDefaultEnvironment } from '@modelcontextprotocol/client/stdio';
import type { ConnectContext, Gateway, GatewayPlugin, TransportFactory } from '@agent-mcp-gateway/core';
import { BoundedLineLogger, type BoundedLineLoggerOptions } from './stderr.js';

export interface StdioTransportOptions {
  /** Extra variable names inherited from the gateway's environment (besides HOME, PATH, …). */
  readonly inheritEnv?: readonly string[];
  /** Variables every child gets, over every other source (the CLI passes its loop marker here). */
  readonly env?: Readonly<Record<string, string>>;
  readonly stderr?: BoundedLineLoggerOptions;
}

/**
 * Answers `resolveTransport` for servers with a `command`: each connection
 * spawns the child through the SDK's `StdioClientTransport` (whose close is
 * stdin end → SIGTERM → SIGKILL, 2 s apart).
 */
export class StdioTransportPlugin implements GatewayPlugin {
  readonly name = 'StdioTransportPlugin';
  constructor(private readonly options: StdioTransportOptions = {}) {}

  apply(gateway: Gateway): void {
    gateway.hooks.resolveTransport.tap(this.name, (spec) => {
      if (spec.transport !== 'stdio' || !spec.command) return undefined;
      return this.factory();
    });
  }

  private factory(): TransportFactory {
    return {
      kind: 'stdio',
      create: async ({ spec, auth, logger, abandon }: ConnectContext) => {
        const inherited: Record<string, string> = getDefaultEnvironment();
        for (const name of this.options.inheritEnv ?? []) {
          const value = process.env[name];
          if (value !== undefined) inherited[name] = value;
        }
        const authEnv = (await auth.env?.()) ?? {};
        const transport = new StdioClientTransport({
          command: spec.command as string,
          args: [...spec.args],
          env: { ...inherited, ...spec.env, ...authEnv, ...this.options.env },
          ...(spec.cwd !== undefined && { cwd: spec.cwd }),
          stderr: 'pipe',
        });
        const stderr = transport.stderr;
        if (stderr) new BoundedLineLogger(logger, this.options.stderr).attach(stderr);
        // Given up on (connect timeout): the child is killed now, not asked to exit over seconds; one not
        // started yet (the SDK was still probing the era in a sibling process) never starts.
        abandon?.addEventListener(
          'abort',
          () => {
            if (transport.pid !== null) killNow(transport.pid);
            else transport.start = () => Promise.reject(new Error('the connection was given up before the server started'));
          },
          { once: true },
        );
        logger.debug(`Starting ${spec.command} ${spec.args.join(' ')}`);
        return transport;
      },
    };
  }
}

function killNow(pid: number | null): void {
  if (pid === null) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}
