/**
 * Test helper: validate HTTP responses against the Matrix Client-Server API
 * OpenAPI definitions of the shared matrix-spec checkout.
 *
 * The spec lives in `<repo root>/../shared/matrix-spec` (set
 * `MATRIX_SPEC_DIR` to override). Every `data/api/client-server/*.yaml` file is
 * parsed on first use, together with every file reachable through relative
 * `$ref`s (definitions, event schemas, application-service definitions, ...).
 * Each parsed file is registered with Ajv under its `file://` URL as `$id`, so
 * relative file refs, JSON-pointer fragments (`#/components/schemas/...`),
 * recursion and `allOf` are all resolved by Ajv itself. Response schemas are
 * compiled lazily, one per (operation, status), and cached for the process.
 *
 * Schemas are validated as written (OpenAPI 3.1 = JSON Schema 2020-12):
 * `additionalProperties` is only enforced where the spec states it, the
 * spec's custom `mx-*` formats are checked against the identifier grammar of
 * the appendices, and `x-*` / `example` annotations are ignored.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import YAML from 'yaml';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ErrorObject, ValidateFunction } from 'ajv/dist/2020.js';
import formatsModule from 'ajv-formats';
import type { FormatsPlugin } from 'ajv-formats';

export type SpecValidationResult = { ok: true } | { ok: false; errors: string };

export interface SpecOperation {
  /** Upper-case HTTP method, e.g. `GET`. */
  method: string;
  /** Full templated path including the server base path, e.g. `/_matrix/client/v3/rooms/{roomId}/messages`. */
  path: string;
  operationId?: string;
  deprecated?: boolean;
}

// ---------------------------------------------------------------------------
// Locating the spec

const HERE = path.dirname(fileURLToPath(import.meta.url));
/** Repository root: server/test/support -> server/test -> server -> root. */
const REPO_ROOT = path.resolve(HERE, '../../..');

export function specDir(): string {
  const override = process.env['MATRIX_SPEC_DIR'];
  return override ? path.resolve(override) : path.resolve(REPO_ROOT, '../shared/matrix-spec');
}

function clientServerDir(): string {
  return path.join(specDir(), 'data/api/client-server');
}

// ---------------------------------------------------------------------------
// Loading

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'] as const;

interface InternalOperation extends SpecOperation {
  /** `file://` URL of the API document. */
  docUrl: string;
  /** JSON pointer (unescaped parts) to the operation object within the document. */
  pointer: string[];
  operation: Record<string, unknown>;
  segments: string[];
  /** 1 for a literal segment, 0 for a templated one; used to rank matches. */
  specificity: number[];
}

interface SpecState {
  ajv: Ajv2020;
  /** Parsed YAML keyed by `file://` URL (without fragment). */
  docs: Map<string, unknown>;
  /** Referenced files absent from the checkout. */
  missing: Set<string>;
  operations: InternalOperation[];
  validators: Map<string, ValidateFunction | null>;
}

let state: SpecState | undefined;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function readYaml(url: string): unknown {
  const file = fileURLToPath(url);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`spec-schemas: cannot read ${file} (spec dir ${specDir()}): ${(err as Error).message}`);
  }
  return YAML.parse(text, { merge: true, maxAliasCount: -1 });
}

/**
 * Collect every `$ref` string found in a parsed document, except inside
 * `example`/`examples` values (the spec's examples `$ref` example event files,
 * which are not schemas).
 */
function collectRefs(node: unknown, out: string[], parentKey = ''): void {
  if (Array.isArray(node)) {
    for (const item of node) collectRefs(item, out);
  } else if (isObject(node)) {
    const isPropertyMap = parentKey === 'properties' || parentKey === 'patternProperties';
    for (const [key, value] of Object.entries(node)) {
      if (key === '$ref' && typeof value === 'string') out.push(value);
      else if (!isPropertyMap && (key === 'example' || key === 'examples')) continue;
      else collectRefs(value, out, key);
    }
  }
}

function stripFragment(url: string): string {
  const hash = url.indexOf('#');
  return hash === -1 ? url : url.slice(0, hash);
}

// Identifier grammars from the spec's appendices ("Identifier Grammar").
// Historical user IDs must still be accepted, so localparts are only
// restricted to exclude ':' and NUL; the server name is checked separately.
const SERVER_NAME_RE =
  /^(?:\[[0-9A-Fa-f:.]{2,45}\]|(?:\d{1,3}\.){3}\d{1,3}|[A-Za-z0-9.-]{1,255})(?::\d{1,5})?$/;

function byteLength(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

function sigilWithServer(sigil: string, value: string): boolean {
  if (!value.startsWith(sigil) || byteLength(value) > 255) return false;
  const colon = value.indexOf(':');
  if (colon === -1) return false;
  return !value.slice(1, colon).includes('\u0000') && SERVER_NAME_RE.test(value.slice(colon + 1));
}

const MATRIX_FORMATS: Record<string, (value: string) => boolean> = {
  'mx-user-id': (v) => sigilWithServer('@', v),
  'mx-room-alias': (v) => sigilWithServer('#', v),
  // Room and event IDs may omit the domain in recent room versions.
  'mx-room-id': (v) => v.length > 1 && v.startsWith('!') && !v.includes('\u0000') && byteLength(v) <= 255,
  'mx-event-id': (v) => v.length > 1 && v.startsWith('$') && !v.includes('\u0000') && byteLength(v) <= 255,
  'mx-server-name': (v) => SERVER_NAME_RE.test(v),
  'mx-mxc-uri': (v) => /^mxc:\/\/[^/]+\/[^/]+$/.test(v),
  'mx-unpadded-base64': (v) => /^[A-Za-z0-9+/]*$/.test(v),
  'mx-urlsafe-unpadded-base64': (v) => /^[A-Za-z0-9_-]*$/.test(v),
};

function createAjv(): Ajv2020 {
  const ajv = new Ajv2020({
    // The spec uses `x-*` extensions, `example`, OpenAPI-only keys and
    // documents that are not schemas at the top level.
    strict: false,
    validateSchema: false,
    allErrors: true,
    // Unknown formats: ignore rather than fail (all known ones are registered below).
    logger: false,
  });
  // ajv-formats is CommonJS; under NodeNext its default import is the module
  // namespace, whose `.default` is the plugin (at runtime too).
  const addFormats = (formatsModule as unknown as { default: FormatsPlugin }).default;
  addFormats(ajv);
  for (const [name, validate] of Object.entries(MATRIX_FORMATS)) ajv.addFormat(name, { type: 'string', validate });
  return ajv;
}

function templateSpecificity(segments: string[]): number[] {
  return segments.map((s) => (s.includes('{') ? 0 : 1));
}

function load(): SpecState {
  if (state) return state;
  const ajv = createAjv();
  const docs = new Map<string, unknown>();
  const operations: InternalOperation[] = [];

  const dir = clientServerDir();
  let files: string[];
  try {
    files = fs.readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort();
  } catch (err) {
    throw new Error(`spec-schemas: cannot list ${dir}: ${(err as Error).message}`);
  }
  const queue = files.map((f) => pathToFileURL(path.join(dir, f)).href);
  const apiDocs = new Set(queue);
  const missing = new Set<string>();

  while (queue.length > 0) {
    const url = queue.shift()!;
    if (docs.has(url) || missing.has(url)) continue;
    // The shared checkout does not necessarily contain every API (e.g. the
    // identity service definitions referenced by request bodies). Missing
    // files are skipped; a schema that really needs one fails to compile.
    if (!apiDocs.has(url) && !fs.existsSync(fileURLToPath(url))) {
      missing.add(url);
      continue;
    }
    const doc = readYaml(url);
    docs.set(url, doc);
    const refs: string[] = [];
    collectRefs(doc, refs);
    for (const ref of refs) {
      if (ref.startsWith('#')) continue;
      const target = stripFragment(new URL(ref, url).href);
      if (!docs.has(target)) queue.push(target);
    }
  }

  for (const [url, doc] of docs) {
    if (!isObject(doc)) continue;
    // Ajv keeps the *referencing* schema's base URI when following a ref to
    // a schema registered only by key, so relative refs inside referenced
    // files would resolve against the wrong file. Give each file its own $id.
    doc['$id'] = url;
    ajv.addSchema(doc, url);
  }

  for (const url of apiDocs) {
    const doc = docs.get(url);
    if (!isObject(doc) || !isObject(doc['paths'])) continue;
    const basePath = serverBasePath(doc);
    for (const [rawPath, item] of Object.entries(doc['paths'])) {
      if (!isObject(item)) continue;
      // Quirk: the spec defines some paths twice by adding a trailing space
      // to the key (e.g. "/rooms/{roomId}/invite " for the 3PID invite).
      const fullPath = basePath + rawPath.trim();
      const segments = fullPath.split('/');
      for (const method of HTTP_METHODS) {
        const operation = item[method];
        if (!isObject(operation)) continue;
        operations.push({
          method: method.toUpperCase(),
          path: fullPath,
          operationId: typeof operation['operationId'] === 'string' ? operation['operationId'] : undefined,
          deprecated: operation['deprecated'] === true ? true : undefined,
          docUrl: url,
          pointer: ['paths', rawPath, method],
          operation,
          segments,
          specificity: templateSpecificity(segments),
        });
      }
    }
  }

  state = { ajv, docs, missing, operations, validators: new Map() };
  return state;
}

function serverBasePath(doc: Record<string, unknown>): string {
  const servers = doc['servers'];
  if (!Array.isArray(servers) || !isObject(servers[0])) return '';
  const server = servers[0];
  const variables = isObject(server['variables']) ? server['variables'] : {};
  const url = typeof server['url'] === 'string' ? server['url'] : '';
  const expanded = url.replace(/\{(\w+)\}/g, (_m, name: string) => {
    const v = variables[name];
    return isObject(v) && typeof v['default'] === 'string' ? v['default'] : '';
  });
  // Drop scheme://host, keep the path.
  const match = /^[a-z]+:\/\/[^/]*(\/.*)?$/i.exec(expanded);
  const base = match ? (match[1] ?? '') : expanded;
  return base.replace(/\/+$/, '');
}

// ---------------------------------------------------------------------------
// Matching

function splitRequestPath(requestPath: string): string[] {
  let p = requestPath;
  // Accept absolute URLs too.
  const abs = /^[a-z]+:\/\/[^/]*(\/.*)?$/i.exec(p);
  if (abs) p = abs[1] ?? '/';
  p = p.split('#')[0]!.split('?')[0]!;
  return p.split('/').map((segment) => {
    try {
      return decodeURIComponent(segment);
    } catch {
      return segment;
    }
  });
}

/**
 * Path parameters that may be empty. The spec says of `stateKey` (state
 * endpoints): "Defaults to the empty string. When an empty string, the
 * trailing slash on this endpoint is optional."
 */
const OPTIONAL_TRAILING_PARAMS = new Set(['{stateKey}']);

function segmentsMatch(template: string[], request: string[]): boolean {
  let req = request;
  if (req.length === template.length - 1 && OPTIONAL_TRAILING_PARAMS.has(template[template.length - 1]!)) {
    req = [...req, ''];
  }
  if (req.length !== template.length) return false;
  for (let i = 0; i < template.length; i++) {
    const t = template[i]!;
    const r = req[i]!;
    if (!t.includes('{')) {
      if (t !== r) return false;
      continue;
    }
    const re = new RegExp(
      '^' +
        t
          .split(/(\{[^}]+\})/)
          .map((part) =>
            /^\{[^}]+\}$/.test(part)
              ? OPTIONAL_TRAILING_PARAMS.has(part)
                ? '.*'
                : '.+'
              : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'),
          )
          .join('') +
        '$',
      's',
    );
    if (!re.test(r)) return false;
  }
  return true;
}

function compareSpecificity(a: number[], b: number[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (a[i] !== b[i]) return b[i]! - a[i]!;
  }
  return 0;
}

/**
 * Request paths to try. `r0` and `unstable` are historical aliases for the
 * versioned endpoints, so they are also matched against the `v3`/`v1`
 * definitions (exact versioned paths are always preferred).
 */
function candidatePaths(segments: string[]): string[][] {
  const out = [segments];
  if (segments[1] === '_matrix' && (segments[2] === 'client' || segments[2] === 'media')) {
    if (segments[3] === 'r0' || segments[3] === 'unstable') {
      for (const v of ['v3', 'v1']) out.push([...segments.slice(0, 3), v, ...segments.slice(4)]);
    }
  }
  return out;
}

interface MatchResult {
  operations: InternalOperation[];
  /** Methods available on the matched path (for error messages). */
  methods: string[];
}

function matchOperations(method: string, requestPath: string): MatchResult {
  const { operations } = load();
  const upper = method.toUpperCase();
  for (const segments of candidatePaths(splitRequestPath(requestPath))) {
    const matching = operations.filter((op) => segmentsMatch(op.segments, segments));
    if (matching.length === 0) continue;
    matching.sort((a, b) => compareSpecificity(a.specificity, b.specificity));
    const best = matching[0]!.specificity;
    const bestPathOps = matching.filter((op) => compareSpecificity(op.specificity, best) === 0);
    const withMethod = bestPathOps.filter((op) => op.method === upper);
    if (withMethod.length > 0) return { operations: withMethod, methods: [] };
    // Maybe a less specific template defines this method.
    const anyWithMethod = matching.filter((op) => op.method === upper);
    if (anyWithMethod.length > 0) {
      const top = anyWithMethod[0]!.specificity;
      return {
        operations: anyWithMethod.filter((op) => compareSpecificity(op.specificity, top) === 0),
        methods: [],
      };
    }
    return { operations: [], methods: [...new Set(bestPathOps.map((op) => `${op.method} ${op.path}`))] };
  }
  return { operations: [], methods: [] };
}

// ---------------------------------------------------------------------------
// Responses

function escapePointer(part: string): string {
  return part.replace(/~/g, '~0').replace(/\//g, '~1');
}

function pointerString(parts: string[]): string {
  return parts.map((p) => '/' + encodeURIComponent(escapePointer(p))).join('');
}

/**
 * Follow a `$ref` chain on a non-schema OpenAPI object (e.g. a response),
 * returning the value and the JSON-pointer URL where it was found.
 */
function deref(location: string, node: unknown): { value: unknown; location: string } {
  const { docs } = load();
  let current = node;
  let loc = location;
  for (let depth = 0; depth < 20 && isObject(current) && typeof current['$ref'] === 'string'; depth++) {
    const target = new URL(current['$ref'], loc);
    const url = stripFragment(target.href);
    let value: unknown = docs.get(url) ?? readYaml(url);
    const fragment = decodeURIComponent(target.hash.replace(/^#/, ''));
    for (const part of fragment.split('/').slice(1)) {
      const key = part.replace(/~1/g, '/').replace(/~0/g, '~');
      value = isObject(value) || Array.isArray(value) ? (value as Record<string, unknown>)[key] : undefined;
    }
    current = value;
    loc = target.hash ? target.href : `${url}#`;
  }
  return { value: current, location: loc };
}

function responseKeyFor(responses: Record<string, unknown>, status: number): string | undefined {
  const exact = String(status);
  if (exact in responses) return exact;
  const range = `${String(status)[0]}XX`;
  if (range in responses) return range;
  if (range.toLowerCase() in responses) return range.toLowerCase();
  if ('default' in responses) return 'default';
  return undefined;
}

function pickJsonMediaType(content: Record<string, unknown>): string | undefined {
  const keys = Object.keys(content);
  return (
    keys.find((k) => k === 'application/json') ??
    keys.find((k) => /^application\/(?:[\w.+-]+\+)?json\b/.test(k)) ??
    undefined
  );
}

/**
 * Compiled validator for an operation's response, or null when the spec
 * has no JSON schema for that status.
 */
function validatorFor(op: InternalOperation, status: number): ValidateFunction | null {
  const s = load();
  const responses = op.operation['responses'];
  if (!isObject(responses)) return null;
  const key = responseKeyFor(responses, status);
  if (key === undefined) return null;
  const cacheKey = `${op.docUrl}#${pointerString(op.pointer)}@${key}`;
  const cached = s.validators.get(cacheKey);
  if (cached !== undefined) return cached;

  let validator: ValidateFunction | null = null;
  const { value: response, location } = deref(
    `${op.docUrl}#${pointerString([...op.pointer, 'responses', key])}`,
    responses[key],
  );
  if (isObject(response) && isObject(response['content'])) {
    const mediaType = pickJsonMediaType(response['content']);
    const media = mediaType ? response['content'][mediaType] : undefined;
    if (mediaType && isObject(media) && media['schema'] !== undefined) {
      // Point Ajv at the schema inside its own document so that relative refs
      // resolve against the right base URL.
      const base = location.includes('#') ? location : `${location}#`;
      const ref = `${base}${pointerString(['content', mediaType, 'schema'])}`;
      try {
        validator = s.ajv.compile({ $ref: ref });
      } catch (err) {
        const absent = s.missing.size > 0 ? ` (files missing from the spec checkout: ${[...s.missing].map((u) => fileURLToPath(u)).join(', ')})` : '';
        throw new Error(
          `spec-schemas: cannot compile schema for ${op.method} ${op.path} ${key}: ${(err as Error).message}${absent}`,
        );
      }
    }
  }
  s.validators.set(cacheKey, validator);
  return validator;
}

function shortSchemaPath(schemaPath: string): string {
  const dataUrl = pathToFileURL(path.join(specDir(), 'data')).href + '/';
  let out = schemaPath.startsWith(dataUrl) ? schemaPath.slice(dataUrl.length) : schemaPath;
  try {
    out = decodeURIComponent(out);
  } catch {
    // keep as is
  }
  return out;
}

function formatErrors(errors: ErrorObject[] | null | undefined): string {
  if (!errors || errors.length === 0) return 'invalid';
  const lines: string[] = [];
  const seen = new Set<string>();
  for (const e of errors) {
    const where = e.instancePath === '' ? 'body' : `body${e.instancePath}`;
    let detail = e.message ?? e.keyword;
    if (e.keyword === 'additionalProperties' && isObject(e.params)) detail += ` (${String(e.params['additionalProperty'])})`;
    if (e.keyword === 'enum' && isObject(e.params)) detail += ` ${JSON.stringify(e.params['allowedValues'])}`;
    const line = `${where} ${detail} [schema ${shortSchemaPath(e.schemaPath)}]`;
    if (seen.has(line)) continue;
    seen.add(line);
    lines.push(line);
    if (lines.length >= 25) {
      lines.push(`... ${errors.length - 25} more`);
      break;
    }
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------
// Public API

/**
 * Validate a response body against the spec.
 *
 * `path` is a concrete request path (query string ignored), e.g.
 * `/_matrix/client/v3/rooms/!abc:localhost/messages?dir=b`.
 * Returns ok when the spec has no JSON schema for the status code, and
 * `{ok:false, errors:'not in spec: ...'}` when the method/path is unknown.
 */
export function validateResponse(method: string, path: string, status: number, body: unknown): SpecValidationResult {
  const { operations, methods } = matchOperations(method, path);
  if (operations.length === 0) {
    const hint = methods.length > 0 ? ` (path defines: ${methods.join(', ')})` : '';
    return { ok: false, errors: `not in spec: ${method.toUpperCase()} ${path}${hint}` };
  }
  const failures: string[] = [];
  for (const op of operations) {
    const validate = validatorFor(op, status);
    if (validate === null) return { ok: true };
    if (validate(body)) return { ok: true };
    const label = operations.length > 1 ? `${op.operationId ?? op.path}: ` : '';
    failures.push(label + formatErrors(validate.errors));
  }
  return { ok: false, errors: failures.join('\n--- or ---\n') };
}

/** Like validateResponse, but throws a readable Error when invalid. */
export function expectSpecResponse(method: string, path: string, status: number, body: unknown): void {
  const result = validateResponse(method, path, status, body);
  if (result.ok) return;
  let shown: string;
  try {
    shown = JSON.stringify(body, null, 2) ?? String(body);
  } catch {
    shown = String(body);
  }
  if (shown.length > 4000) shown = shown.slice(0, 4000) + '\n... (truncated)';
  throw new Error(
    `Response to ${method.toUpperCase()} ${path} (HTTP ${status}) does not match the Matrix spec:\n${result.errors}\n\nBody:\n${shown}`,
  );
}

/** Every operation defined by the Client-Server API spec, sorted by path then method. */
export function listSpecOperations(): SpecOperation[] {
  const seen = new Set<string>();
  const out: SpecOperation[] = [];
  for (const op of load().operations) {
    const key = `${op.method} ${op.path}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const entry: SpecOperation = { method: op.method, path: op.path };
    if (op.operationId !== undefined) entry.operationId = op.operationId;
    if (op.deprecated) entry.deprecated = true;
    out.push(entry);
  }
  return out.sort((a, b) => (a.path === b.path ? a.method.localeCompare(b.method) : a.path.localeCompare(b.path)));
}

/**
 * Find the spec operation a concrete request maps to (templated path), or
 * undefined. Useful for coverage bookkeeping.
 */
export function findSpecOperation(method: string, path: string): SpecOperation | undefined {
  const op = matchOperations(method, path).operations[0];
  return op ? { method: op.method, path: op.path } : undefined;
}
