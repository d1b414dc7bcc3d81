// The programs each package manager runs, by where they run. Cheap to import: the planner reads these
// to declare the inputs of the steps' keys, and the preflight check to fail before any work when one is
// missing. The implementations (apt.ts, dnf.ts, ...) are loaded only when a step runs.
import type { PackageManagerName, PackageManagerTools } from "../types.js";

export const PACKAGE_MANAGER_TOOLS: Readonly<Record<PackageManagerName, PackageManagerTools>> = {
  apt: {
    sync: ["apt-get"],
    install: ["apt-get", "dpkg"],
    query: ["dpkg-query"],
    index: ["dpkg-deb"],
    debianPackages: { "apt-get": "apt", dpkg: "dpkg", "dpkg-query": "dpkg", "dpkg-deb": "dpkg" },
    settings: [],
  },
  dnf: {
    sync: ["dnf"],
    // dnf installs through librpm; rpm's version stands for it.
    install: ["dnf", "rpm"],
    query: ["rpm"],
    index: ["createrepo_c"],
    debianPackages: { dnf: "dnf", rpm: "rpm", createrepo_c: "createrepo-c" },
    // EPEL_MIRROR (Environment=) moves EPEL away from the mirror's parent directory.
    settings: [
      "RepositoryKeyFetch",
      "Locale",
      "ProxyPeerCertificate",
      "ProxyClientCertificate",
      "ProxyClientKey",
      "Environment",
    ],
  },
  zypper: {
    sync: ["zypper"],
    install: ["zypper", "rpm"],
    query: ["rpm"],
    index: ["createrepo_c"],
    debianPackages: { zypper: "zypper", rpm: "rpm", createrepo_c: "createrepo-c" },
    settings: ["RepositoryKeyFetch", "Locale"],
  },
  pacman: {
    sync: ["pacman"],
    install: ["pacman"],
    // The installed packages are read from pacman's local database directly.
    query: [],
    index: ["repo-add"],
    debianPackages: { pacman: "pacman-package-manager", "repo-add": "pacman-package-manager" },
    settings: ["RepositoryKeyFetch"],
  },
  none: { sync: [], install: [], query: [], index: [], debianPackages: {}, settings: [] },
};

/** The package type a package manager installs. */
export const PACKAGE_TYPES: Readonly<Record<PackageManagerName, "deb" | "rpm" | "pkg" | "none">> = {
  apt: "deb",
  dnf: "rpm",
  zypper: "rpm",
  pacman: "pkg",
  none: "none",
};
