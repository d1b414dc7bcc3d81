// [Build] settings.
import { existsSync } from "node:fs";
import {
  BUILD_SOURCES_EPHEMERAL,
  CACHE_ONLY_MODES,
  DISTRIBUTIONS,
  DISTRO_INFO,
  INCREMENTAL_MODES,
} from "../enums.js";
import { hostDistribution } from "../host.js";
import { makeDictParser, parseBoolean, parseEnvironmentItem, parseFeature, parseString } from "../values.js";
import {
  def,
  enumOf,
  list,
  matchBuildSources,
  matchEnum,
  matchKeyValue,
  matchString,
  path,
  pathList,
  treeList,
} from "./common.js";
import type { Setting } from "./types.js";

const parseDistribution = enumOf("Distribution", DISTRIBUTIONS);

export function defaultToolsTreeDistribution(): string {
  const host = hostDistribution() ?? "custom";
  return DISTRO_INFO[host]?.toolsTreeDistribution ?? host;
}

const PROXY_VARS = new Set(["http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"]);

/**
 * The reference's ProxyUrl= default: if Environment= names a proxy variable, the URL is empty (it
 * looks at the names only, so the value is lost); otherwise the first proxy variable in mkosi's own
 * environment, in the environment's order.
 */
function defaultProxyUrl(
  environment: Record<string, string> | null,
  env: Record<string, string | undefined>,
) {
  for (const k of Object.keys(environment ?? {})) if (PROXY_VARS.has(k)) return "";
  for (const [k, v] of Object.entries(env)) if (PROXY_VARS.has(k) && v !== undefined) return v;
  return null;
}

export const BUILD_SETTINGS = [
  def("ToolsTree", "Build", "universal", "optional", path({ constants: ["default"] }), {
    paths: ["tools"],
    help: "Look up programs to execute inside the given tree",
    metavar: "PATH",
  }),
  def("ToolsTreeDistribution", "Build", "tools", "optional", parseDistribution, {
    defaultFactory: () => defaultToolsTreeDistribution(),
    match: matchEnum(parseDistribution, "Distribution"),
    choices: DISTRIBUTIONS,
    help: "Set the distribution to use for the default tools tree",
    metavar: "DISTRIBUTION",
  }),
  def("ToolsTreeRelease", "Build", "tools", "optional", parseString, {
    defaultFactory: (c) => {
      const d = c.get("tools_tree_distribution") as string | null;
      return d ? (DISTRO_INFO[d]?.defaultRelease ?? null) : null;
    },
    match: matchString,
    help: "Set the release to use for the default tools tree",
    metavar: "RELEASE",
  }),
  def("ToolsTreeProfiles", "Build", "tools", "list", list(), {
    long: ["tools-tree-profile"],
    default: ["misc", "package-manager", "runtime"],
    help: "Set the profiles to enable for the default tools tree",
    metavar: "PROFILE",
  }),
  def("ToolsTreeMirror", "Build", "tools", "optional", parseString, {
    defaultFactory: (c) => {
      const m = c.get("mirror");
      return m && c.get("distribution") === c.get("tools_tree_distribution") ? m : null;
    },
    help: "Set the mirror to use for the default tools tree",
    metavar: "MIRROR",
  }),
  def("ToolsTreeRepositories", "Build", "tools", "list", list(), {
    long: ["tools-tree-repository"],
    help: "Repositories to use for the default tools tree",
    metavar: "REPOS",
  }),
  def("ToolsTreeSandboxTrees", "Build", "tools", "list", treeList({ required: true }), {
    long: ["tools-tree-sandbox-tree", "tools-tree-package-manager-tree"],
    compatNames: ["ToolsTreePackageManagerTrees"],
    help: "Sandbox trees for the default tools tree",
    metavar: "PATH",
  }),
  def("ToolsTreePackages", "Build", "tools", "list", list(), {
    long: ["tools-tree-package"],
    help: "Add additional packages to the default tools tree",
    metavar: "PACKAGE",
  }),
  def("ToolsTreePackageDirectories", "Build", "tools", "list", pathList(), {
    long: ["tools-tree-package-directory"],
    help: "Specify a directory containing extra tools tree packages",
    metavar: "PATH",
  }),
  def("ToolsTreeCertificates", "Build", "universal", "value", parseBoolean, {
    default: true,
    help: "Use certificates from the tools tree",
    metavar: "BOOL",
  }),
  def("ExtraSearchPaths", "Build", "universal", "list", pathList({ exclude: ["/usr"] }), {
    long: ["extra-search-path"],
    help: "List of comma-separated paths to look for programs before looking in PATH",
    metavar: "PATH",
  }),
  def(
    "Incremental",
    "Build",
    "universal",
    "value",
    enumOf("Incremental", INCREMENTAL_MODES, { yes: "yes", no: "no" }),
    {
      short: "i",
      shortConst: "yes",
      default: "no",
      choices: INCREMENTAL_MODES,
      help: "Make use of and generate intermediary cache images",
      metavar: "MODE",
    },
  ),
  def(
    "CacheOnly",
    "Build",
    "multiversal",
    "value",
    enumOf("CacheOnly", CACHE_ONLY_MODES, { yes: "always", no: "auto" }),
    {
      dest: "cacheonly",
      long: ["cache-only"],
      default: "auto",
      choices: CACHE_ONLY_MODES,
      help: "Only use the package cache when installing packages",
      metavar: "MODE",
    },
  ),
  def("SandboxTrees", "Build", "universal", "list", treeList({ required: true }), {
    tools: true,
    long: ["sandbox-tree", "package-manager-tree"],
    compatNames: ["PackageManagerTrees"],
    paths: ["sandbox", "sandbox.tar", "pkgmngr", "pkgmngr.tar"],
    help: "Use a sandbox tree to configure the various tools that mkosi executes",
    metavar: "PATH",
  }),
  def("WorkspaceDirectory", "Build", "multiversal", "optional", path({ required: false }), {
    dest: "workspace_dir",
    long: ["workspace-directory", "workspace-dir"],
    help: "Workspace directory",
    metavar: "DIR",
  }),
  def("CacheDirectory", "Build", "universal", "optional", path({ required: false }), {
    dest: "cache_dir",
    long: ["cache-directory", "cache-dir"],
    paths: ["cache"],
    help: "Incremental cache directory",
    metavar: "PATH",
  }),
  def("CacheKey", "Build", "inherit", "value", parseString, {
    default: "&d~&r~&a~&I",
    help: "Set the cache key",
    metavar: "KEY",
  }),
  def("PackageCacheDirectory", "Build", "multiversal", "optional", path({ required: false }), {
    dest: "package_cache_dir",
    long: ["package-cache-directory", "package-cache-dir"],
    paths: ["pkgcache"],
    help: "Package cache directory",
    metavar: "PATH",
  }),
  def("BuildDirectory", "Build", "universal", "optional", path({ required: false }), {
    dest: "build_dir",
    long: ["build-directory", "build-dir"],
    paths: ["builddir"],
    help: "Path to use as persistent build directory",
    metavar: "PATH",
  }),
  def("BuildKey", "Build", "inherit", "value", parseString, {
    default: "&d~&r~&a",
    help: "Set the build key",
    metavar: "KEY",
  }),
  def("UseSubvolumes", "Build", "universal", "value", parseFeature, {
    help: "Use btrfs subvolumes for faster directory operations where possible",
    metavar: "FEATURE",
  }),
  def("RepartOffline", "Build", "universal", "value", parseBoolean, {
    default: true,
    help: "Build disk images without using loopback devices",
    metavar: "BOOL",
  }),
  def("History", "Build", "main", "value", parseBoolean, {
    help: "Whether mkosi can store information about previous builds",
    metavar: "BOOL",
  }),
  def(
    "BuildSources",
    "Build",
    "multiversal",
    "list",
    treeList({ required: true, directory: true, relativeTarget: true }),
    {
      defaultFactory: (c) => (c.directory ? [{ Source: c.directory, Target: null }] : []),
      match: matchBuildSources,
      help: "Path for sources to build",
      metavar: "PATH",
    },
  ),
  def(
    "BuildSourcesEphemeral",
    "Build",
    "multiversal",
    "value",
    enumOf("BuildSourcesEphemeral", BUILD_SOURCES_EPHEMERAL, { yes: "yes", no: "no" }),
    {
      default: "no",
      choices: BUILD_SOURCES_EPHEMERAL,
      help: "Make build sources ephemeral when running scripts",
      metavar: "MODE",
    },
  ),
  def(
    "Environment",
    "Build",
    "local",
    "dict",
    makeDictParser({ delimiter: " ", unescape: true, item: parseEnvironmentItem }),
    {
      tools: true,
      short: "E",
      match: matchKeyValue,
      help: "Set an environment variable when running scripts",
      metavar: "NAME[=VALUE]",
    },
  ),
  def("EnvironmentFiles", "Build", "local", "list", pathList(), {
    tools: true,
    long: ["env-file"],
    paths: ["env"],
    help: "Environment files to set when running scripts",
    metavar: "PATH",
  }),
  def("WithTests", "Build", "universal", "value", parseBoolean, {
    short: "T",
    shortConst: "no",
    default: true,
    help: "Do not run tests as part of build scripts, if supported",
    metavar: "BOOL",
  }),
  def("WithNetwork", "Build", "universal", "value", parseBoolean, {
    help: "Run build and postinst scripts with network access (instead of private network)",
    metavar: "BOOL",
  }),
  def("ProxyUrl", "Build", "multiversal", "optional", parseString, {
    defaultFactory: (c) => defaultProxyUrl(c.get("environment") as Record<string, string> | null, c.env),
    help: "Set the proxy to use",
    metavar: "URL",
  }),
  def("ProxyExclude", "Build", "multiversal", "list", list(), {
    help: "Don't use the configured proxy for the specified host(s)",
    metavar: "HOST",
  }),
  def("ProxyPeerCertificate", "Build", "multiversal", "optional", path(), {
    defaultFactory: () => {
      for (const p of ["/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/certs/ca-certificates.crt"])
        if (existsSync(p)) return p;
      return null;
    },
    help: "Set the proxy peer certificate",
    metavar: "PATH",
  }),
  def("ProxyClientCertificate", "Build", "multiversal", "optional", path({ secret: true }), {
    help: "Set the proxy client certificate",
    metavar: "PATH",
  }),
  def("ProxyClientKey", "Build", "multiversal", "optional", path({ secret: true }), {
    defaultFactory: (c) => c.get("proxy_client_certificate"),
    help: "Set the proxy client key",
    metavar: "PATH",
  }),
] as const satisfies readonly Setting[];
