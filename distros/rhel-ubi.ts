// RHEL Universal Base Image: dnf, the public UBI CDN, baseos, appstream and codeready-builder, EPEL.
import { redhatKeys } from "./rhel.js";
import { disabled, epelRepositories, joinMirror, repo, rhelFamily } from "./rhel-family.js";

export const rhelUbi = rhelFamily({
  name: "rhel-ubi",
  prettyName: "RHEL UBI",
  keys: redhatKeys,
  repositories(config, lookup, gpg) {
    const variant = (name: string) => {
      if (config.LocalMirror) return [repo(name, `baseurl=${config.LocalMirror}`, gpg)];
      const mirror = config.Mirror ?? "https://cdn-ubi.redhat.com/content/public/ubi/dist/";
      const v = config.Release;
      const base = joinMirror(mirror, `ubi${v}/${v}/$basearch/${name}`);
      return [
        repo(`ubi-${v}-${name}-rpms`, `baseurl=${base}/os`, gpg),
        repo(`ubi-${v}-${name}-debug-rpms`, `baseurl=${base}/debug`, gpg, disabled),
        repo(`ubi-${v}-${name}-source`, `baseurl=${base}/source`, gpg, disabled),
      ];
    };
    return [
      ...["baseos", "appstream", "codeready-builder"].flatMap(variant),
      ...epelRepositories(config, lookup),
    ];
  },
});
