/**
 * What plugins add to the configuration: the `auth` types they answer (each with its zod
 * schema, secret fields marked) and the token store names they answer. Core knows none of
 * them: the servers file's validator is composed from what is registered here.
 *
 * Order (see docs/plugins.md): the settings are read first (they list the plugins), then
 * every plugin's `register(registry)` runs, then the servers file is validated against the
 * registry, then the gateway applies the plugins (`apply`) and starts.
 */
import { z } from 'zod';

/** Fields whose values are credentials: the redactor blanks them wherever they appear. */
const secretMarks = new WeakSet<z.core.$ZodType>();

/**
 * A copy of `schema` whose values are secrets (`clientSecret: secret(z.string()).optional()`): the
 * loader adds them to the server's `secretValues`, so the redactor blanks them from every
 * log line, error and status — as it does for `${VAR}` values, headers and env.
 */
export function secret<T extends z.ZodType>(schema: T): T {
  // A copy: the same schema instance may also be used for fields that are not secrets.
  const marked = schema.clone();
  secretMarks.add(marked);
  return marked;
}

/** The string values under `secret()`-marked schemas of `schema` in `value` (which `schema` accepted). */
export function secretValuesOf(schema: z.core.$ZodType, value: unknown): string[] {
  const out: string[] = [];
  collectSecrets(schema, value, out, 0);
  return out;
}

function collectSecrets(schema: z.core.$ZodType, value: unknown, out: string[], depth: number): void {
  if (value === undefined || value === null || depth > 32) return;
  if (secretMarks.has(schema)) {
    if (typeof value === 'string') out.push(value);
    return;
  }
  const def = schema._zod.def as unknown as Record<string, unknown> & { type: string };
  switch (def.type) {
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'readonly':
    case 'nonoptional':
    case 'catch':
      return collectSecrets(def.innerType as z.core.$ZodType, value, out, depth + 1);
    case 'pipe':
      return collectSecrets(def.in as z.core.$ZodType, value, out, depth + 1);
    case 'object':
      if (typeof value !== 'object') return;
      for (const [key, inner] of Object.entries(def.shape as Record<string, z.core.$ZodType>)) {
        collectSecrets(inner, (value as Record<string, unknown>)[key], out, depth + 1);
      }
      return;
    case 'array':
      if (Array.isArray(value)) for (const item of value) collectSecrets(def.element as z.core.$ZodType, item, out, depth + 1);
      return;
    case 'record':
      if (typeof value === 'object') for (const item of Object.values(value)) collectSecrets(def.valueType as z.core.$ZodType, item, out, depth + 1);
      return;
    case 'union':
      // The branch that accepts the value says which of its fields are secrets.
      for (const option of def.options as z.core.$ZodType[]) if (z.safeParse(option, value).success) return collectSecrets(option, value, out, depth + 1);
      return;
    default:
      return;
  }
}

/** One `auth` type a plugin answers. */
export interface AuthTypeRegistration {
  /** The `type` value, e.g. `"acme-hmac"`. */
  readonly type: string;
  /**
   * Validates the whole `auth` object, `type` included (`z.strictObject({type: z.literal(…), …})`:
   * strict, so a misspelt key is named instead of ignored). Mark credentials with {@link secret}.
   */
  readonly schema: z.ZodType;
  /** The registering plugin's name (for messages). */
  readonly plugin: string;
}

/** One token store name a plugin answers (`tokenStore: "<name>"` in a server entry or the settings). */
export interface TokenStoreRegistration {
  readonly name: string;
  readonly plugin: string;
}

/** One GATEWAY_* variable that overrides one field of a settings section. */
export interface SectionEnvVar {
  /** The field of the section it sets (a key of the section's object schema). */
  readonly key: string;
  /**
   * Its text → the field's input value (e.g. a port number); the section's schema then validates it.
   * Default: the text as it is (trimmed).
   */
  readonly parse?: (text: string) => unknown;
}

/**
 * A top-level settings key a plugin owns (`"<name>": {…}`, e.g. a serving package's listener settings): validated by the
 * plugin's schema once the plugins registered, with errors naming the settings file and JSON path
 * as core's do.
 */
export interface SettingsSectionRegistration {
  /** The top-level key, e.g. `"vault"`. */
  readonly name: string;
  /** Validates the section's value (strict objects, so a misspelt key is named). Mark credentials with {@link secret}. */
  readonly schema: z.ZodType;
  /** The registering plugin's name (for messages). */
  readonly plugin: string;
  /**
   * Variables that override fields of the section (`ACME_VAULT_URL` → `url`), over the file. A
   * variable set while the file has no such section makes one (the schema's defaults fill the rest).
   */
  readonly env?: Readonly<Record<string, SectionEnvVar>>;
  /**
   * The section is a way of serving the gateway to its clients: `transport: "<name>"` (or
   * GATEWAY_TRANSPORT) selects it. Core knows only `"stdio"`.
   */
  readonly serves?: boolean;
}

/** `transport` values core answers itself: the gateway on its own stdin/stdout. */
export const CORE_SERVE_TRANSPORTS = ['stdio'] as const;

/** `auth: "none"`: no credentials at all. The one auth type core answers itself. */
export const NO_AUTH_TYPE = 'none';

/**
 * The configuration vocabulary plugins register. A type or store name registered twice is a
 * PLUGIN_ERROR-worthy mistake: {@link ConfigRegistry.registerAuthType} throws.
 */
export class ConfigRegistry {
  private readonly auth = new Map<string, AuthTypeRegistration>();
  private readonly stores = new Map<string, TokenStoreRegistration>();
  private readonly sections = new Map<string, SettingsSectionRegistration>();

  constructor() {
    this.registerAuthType({ type: NO_AUTH_TYPE, schema: z.strictObject({ type: z.literal(NO_AUTH_TYPE) }), plugin: 'core' });
  }

  /**
   * Registers a settings section: the top-level key `registration.name` of the settings file
   * belongs to the plugin. A name or variable another plugin already registered throws (one
   * that core's own settings use is refused when the settings are loaded: PLUGIN_ERROR).
   */
  registerSettingsSection(registration: SettingsSectionRegistration): this {
    const { name, plugin } = registration;
    if (!/^[A-Za-z][A-Za-z0-9_-]*$/.test(name)) throw new Error(`settings section "${name}" (${plugin}): a name is letters, digits, "_" and "-", starting with a letter`);
    if ((CORE_SERVE_TRANSPORTS as readonly string[]).includes(name)) throw new Error(`settings section "${name}" (${plugin}): "${name}" is a transport core serves itself`);
    const existing = this.sections.get(name);
    if (existing) throw new Error(`settings section "${name}" is registered twice (by ${existing.plugin} and ${plugin})`);
    for (const variable of Object.keys(registration.env ?? {})) {
      const owner = [...this.sections.values()].find((s) => Object.hasOwn(s.env ?? {}, variable))?.plugin;
      if (owner !== undefined) throw new Error(`settings section "${name}" (${plugin}): variable ${variable} is already read by ${owner}`);
    }
    this.sections.set(name, registration);
    return this;
  }

  /** The registered settings sections, in registration order. */
  settingsSections(): readonly SettingsSectionRegistration[] {
    return [...this.sections.values()];
  }

  settingsSection(name: string): SettingsSectionRegistration | undefined {
    return this.sections.get(name);
  }

  /** The `transport` values: core's `stdio`, then each section registered with `serves`. */
  serveTransports(): readonly string[] {
    return [...CORE_SERVE_TRANSPORTS, ...this.settingsSections().filter((s) => s.serves === true).map((s) => s.name)];
  }

  registerAuthType(registration: AuthTypeRegistration): this {
    // The composed validator picks the schema by `type` (a discriminated union), which needs it literal.
    if (!registration.schema._zod.propValues?.type?.has(registration.type)) {
      throw new Error(`auth type "${registration.type}" (${registration.plugin}): its schema must be an object with type: z.literal("${registration.type}")`);
    }
    const existing = this.auth.get(registration.type);
    if (existing) throw new Error(`auth type "${registration.type}" is registered twice (by ${existing.plugin} and ${registration.plugin})`);
    this.auth.set(registration.type, registration);
    return this;
  }

  registerTokenStore(registration: TokenStoreRegistration): this {
    const existing = this.stores.get(registration.name);
    if (existing) throw new Error(`token store "${registration.name}" is registered twice (by ${existing.plugin} and ${registration.plugin})`);
    this.stores.set(registration.name, registration);
    return this;
  }

  /** The registered auth types, in registration order. */
  authTypes(): readonly AuthTypeRegistration[] {
    return [...this.auth.values()];
  }

  authType(type: string): AuthTypeRegistration | undefined {
    return this.auth.get(type);
  }

  /** The registered token store names, in registration order. */
  tokenStores(): readonly string[] {
    return [...this.stores.keys()];
  }

  /**
   * The validator of a server entry's `auth`: a registered type's name as a shorthand (when its
   * schema accepts `{type}` alone), or an object whose `type` selects the registered schema.
   */
  authSchema(): z.ZodType {
    const types = this.authTypes();
    const shorthands = types.filter((t) => t.schema.safeParse({ type: t.type }).success).map((t) => t.type);
    const objects = types.map((t) => t.schema) as [z.ZodType, ...z.ZodType[]];
    const object =
      objects.length > 1
        ? z.discriminatedUnion('type', objects as unknown as [z.core.$ZodTypeDiscriminable, ...z.core.$ZodTypeDiscriminable[]])
        : objects[0];
    return z.union([z.enum(shorthands as [string, ...string[]]), object as z.ZodType]);
  }

  /** The validator of a `tokenStore` value: a registered store name (any name while none is registered). */
  tokenStoreSchema(): z.ZodType<string> {
    const names = this.tokenStores();
    return names.length > 0 ? z.enum(names as [string, ...string[]]) : z.string().min(1);
  }

  /** The secret values (see {@link secret}) of a validated `auth` value. */
  authSecrets(auth: unknown): string[] {
    if (typeof auth !== 'object' || auth === null) return [];
    const registration = this.auth.get(String((auth as { type?: unknown }).type));
    return registration ? secretValuesOf(registration.schema, auth) : [];
  }
}
