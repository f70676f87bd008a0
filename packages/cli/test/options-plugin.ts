/**
 * A third-party plugin that declares the schema of its options, written into a folder with
 * `node_modules/@agent-mcp-gateway/core` linked to this workspace's core (as a plugin package
 * finds its peer), for the option tests of the loader and of the built CLI.
 */
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** This workspace's core package (the one the CLI imports). */
const CORE_DIR = fileURLToPath(new URL('../../core', import.meta.url));

/** The reason the plugin's constructor throws with when its options say `refuse: true`. */
export const REFUSED_REASON = 'options_fixture_refused';

/**
 * The plugin module: a class with `static optionsSchema` (`token` and each endpoint's `key` marked
 * `secret()`). `apply` logs its options at debug and its token at info: only the redactor keeps
 * them out of the output. With `refuse: true` the constructor throws PLUGIN_ERROR
 * {@link REFUSED_REASON}, quoting the token.
 */
const CLASS_MODULE = `import { NonEmptyString, defineError, secret, z } from '@agent-mcp-gateway/core';
const refused = defineError({ code: 'PLUGIN_ERROR', reason: '${REFUSED_REASON}', message: (token) => 'the fixture refuses token ' + token });
export default class OptionsFixture {
  static optionsSchema = z.strictObject({
    token: secret(NonEmptyString),
    endpoints: z.record(z.string(), z.strictObject({ keyId: NonEmptyString, key: secret(NonEmptyString) })).default({}),
    label: z.string().default('fixture'),
    refuse: z.boolean().default(false),
  });
  name = 'OptionsFixture';
  constructor(options) {
    if (options.refuse) throw refused(options.token);
    this.options = options;
  }
  apply(gateway) {
    gateway.logger.debug('options fixture: options ' + JSON.stringify(this.options));
    gateway.logger.info('options fixture: token ' + this.options.token);
  }
}
`;

/** A factory with an \`optionsSchema\` property. */
const FACTORY_MODULE = `import { z } from '@agent-mcp-gateway/core';
const make = (options) => ({ name: 'FactoryFixture', options, apply() {} });
export default Object.assign(make, { optionsSchema: z.strictObject({ retries: z.number().int().min(0).default(2), url: z.string() }) });
`;

/** Writes `options-plugin.mjs` and `factory-plugin.mjs` into `dir`, and links core into its node_modules. */
export async function writeOptionsPlugins(dir: string): Promise<{ classPlugin: string; factoryPlugin: string }> {
  const link = join(dir, 'node_modules', '@agent-mcp-gateway', 'core');
  await mkdir(dirname(link), { recursive: true });
  await symlink(CORE_DIR, link, 'dir');
  const classPlugin = join(dir, 'options-plugin.mjs');
  const factoryPlugin = join(dir, 'factory-plugin.mjs');
  await writeFile(classPlugin, CLASS_MODULE);
  await writeFile(factoryPlugin, FACTORY_MODULE);
  return { classPlugin, factoryPlugin };
}
