/**
 * Import layering for src/ (npm run check:imports; README "Import rules").
 *
 * Layers, top to bottom: entry points (main.ts, migrate.ts) and app/ (composition root) may
 * import anything; channels/ sit on turn/ (the channel-agnostic spine), admin/ on server/ (HTTP
 * helpers); tools/, agent/, infra/, store/ and observability/ are below them; config/ and
 * errors/ are leaves. A folder may always import itself, errors/, config/ and npm packages unless
 * a rule below says otherwise. Every rule is a `forbidden` rule: an import that none of them
 * names is allowed. test/ and bench/ are not checked.
 *
 * Paths are relative to the repo root (run depcruise from there). Type-only imports count
 * (tsPreCompilationDeps: true), and `.js` specifiers resolve to the `.ts` files.
 */

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'channels-not-app-admin',
      comment:
        'Channels are transports: they hand InboundMessages to turn/ and deliver replies. They ' +
        'must not reach up into the composition root (app/) or the admin console (admin/); what ' +
        'they need is passed in by app/create-app.ts.',
      severity: 'error',
      from: { path: '^src/channels/' },
      to: { path: '^src/(app|admin)/' },
    },
    {
      name: 'channels-tools-agent-types-only',
      comment:
        'Channels may know the shapes of tools/ and agent/ (types, e.g. for confirmation ' +
        'prompts) but never run them: tools and the model are driven by turn/, so a channel ' +
        'that imports their values is doing the turn\'s work.',
      severity: 'error',
      from: { path: '^src/channels/' },
      to: { path: '^src/(tools|agent)/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'admin-not-channels-app',
      comment:
        'The admin console reads the store and observes events; it must not depend on any ' +
        'transport (channels/) or on the composition root (app/), so it works whichever ' +
        'channels are mounted.',
      severity: 'error',
      from: { path: '^src/admin/' },
      to: { path: '^src/(channels|app)/' },
    },
    {
      name: 'turn-not-above-spine',
      comment:
        'turn/ is the channel-agnostic spine: it knows transports only through ReplyTransport ' +
        'and must not import channels/, admin/, app/ or the HTTP helpers in server/.',
      severity: 'error',
      from: { path: '^src/turn/' },
      to: { path: '^src/(channels|admin|app|server)/' },
    },
    {
      name: 'core-not-above-core',
      comment:
        'tools/, agent/ and infra/ are the layer the turn runs on; they must not import turn/, ' +
        'channels/, admin/, app/ or server/ (pass callbacks or interfaces down instead). tools/ ' +
        'and agent/ may import each other.',
      severity: 'error',
      from: { path: '^src/(tools|agent|infra)/' },
      to: { path: '^src/(turn|channels|admin|app|server)/' },
    },
    {
      name: 'store-is-low',
      comment:
        'store/ (drizzle schema, database, SQL classes) is storage only: it must not import ' +
        'turn/, channels/, admin/, app/, server/, nor tools/, agent/ or infra/ (rows and ' +
        'statements, no behaviour).',
      severity: 'error',
      from: { path: '^src/store/' },
      to: { path: '^src/(turn|channels|admin|app|server|tools|agent|infra)/' },
    },
    {
      name: 'observability-is-low',
      comment:
        'observability/ (logger, redaction, events, metrics) is imported by everything, so it ' +
        'must import nothing above it: in particular the logger must not import admin code, and ' +
        'observability must not import tools/, agent/, infra/, turn/, channels/, app/ or server/.',
      severity: 'error',
      from: { path: '^src/observability/' },
      to: { path: '^src/(admin|tools|agent|infra|turn|channels|app|server)/' },
    },
    {
      name: 'config-is-a-leaf',
      comment:
        'config/ parses the environment once at start-up and is imported by every layer, so it ' +
        'imports nothing from src/ but config/, errors/ and the leaf zod slices a provider ' +
        'exports (src/agent/providers/**/settings.ts). In particular not tools/: a tool\'s ' +
        'settings slice must live where config/ can import it without pulling tool code.',
      severity: 'error',
      from: { path: '^src/config/' },
      to: {
        path: '^src/',
        pathNot: [
          '^src/(config|errors)/',
          '^src/agent/providers/settings\\.ts$',
          '^src/agent/providers/.*/settings\\.ts$',
        ],
      },
    },
    {
      name: 'errors-is-a-leaf',
      comment:
        'errors/ is the error family every layer throws and catches; it imports nothing from ' +
        'src/ but errors/ itself.',
      severity: 'error',
      from: { path: '^src/errors/' },
      to: { path: '^src/', pathNot: '^src/errors/' },
    },
    {
      name: 'server-not-above-http',
      comment:
        'server/ holds HTTP helpers (error handler, health routes, static assets) used by app/ ' +
        'and admin/; it must not import turn/, channels/, admin/ or app/.',
      severity: 'error',
      from: { path: '^src/server/' },
      to: { path: '^src/(turn|channels|admin|app)/' },
    },
    {
      name: 'schema-only-from-store-admin',
      comment:
        'The drizzle tables (src/store/schema.ts) are read and written through the store classes; ' +
        'only store/, admin/ (its read-only queries) and workspaces/ (the statements over the workspace ' +
        'tables: directory records and the credential vault) may import them (test/ and bench/ are not ' +
        'checked). The row types (Conversation, Message, ToolCall) are the domain types every layer ' +
        'shares, so type-only imports are allowed.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/(store|admin|workspaces)/' },
      to: { path: '^src/store/schema\\.ts$', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'no-circular',
      comment:
        'No import cycles between files (type-only imports included): a cycle makes load order ' +
        'matter and usually means two modules are one, or a layer is upside down.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'not-to-unresolvable',
      comment:
        'Every import must resolve to a file or an installed package: an import this check ' +
        'cannot resolve is an edge no other rule can see (and usually a stale path after a move).',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
    {
      name: 'no-orphans',
      comment:
        'A module in src/ that nothing imports and that is not an entry point is probably dead ' +
        'code (or an entry point missing from this list).',
      severity: 'warn',
      from: {
        orphan: true,
        pathNot: [
          '^src/(main|migrate)\\.ts$',
          '^src/admin/create-admin-cli\\.ts$', // npm run admin:create
          '^src/workspaces/create-workspace-cli\\.ts$', // npm run workspace:create
          '^src/workspaces/secrets-rotate-cli\\.ts$', // npm run secrets:rotate
          '\\.d\\.[cm]?ts$',
        ],
      },
      to: {},
    },
    {
      name: 'not-reachable-from-entry-points',
      comment:
        'no-orphans only sees modules with no imports at all; this one warns about any src/ ' +
        'module that main.ts, migrate.ts or create-admin-cli.ts never reach (dead code, or a ' +
        'module only tests use).',
      severity: 'warn',
      from: { path: ['^src/(main|migrate)\\.ts$', '^src/admin/create-admin-cli\\.ts$', '^src/workspaces/create-workspace-cli\\.ts$', '^src/workspaces/secrets-rotate-cli\\.ts$'] },
      to: {
        path: '^src/',
        pathNot: ['^src/(main|migrate)\\.ts$', '^src/admin/create-admin-cli\\.ts$', '^src/workspaces/create-workspace-cli\\.ts$', '^src/workspaces/secrets-rotate-cli\\.ts$', '\\.d\\.[cm]?ts$'],
        reachable: false,
      },
    },
  ],
  options: {
    // The browser files served as static assets (admin UI, widget) are not server modules.
    exclude: { path: '^src/(admin/ui|server/public)/' },
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
    reporterOptions: {
      text: { highlightFocused: true },
    },
  },
};
