// Script support: helpers that make apt/dpkg in scripts act on /buildroot.

import { BUILDROOT } from "../../../sandbox/run.js";
import type { AptDistribution, PackageManagerContext, ScriptPackageManagerSupport } from "../../types.js";
import { dpkgOptions } from "./config.js";
import { aptBinds, aptEnv, seedAptCache, withLocalLists } from "./sandbox.js";
import { writeConfig } from "./session.js";

export async function aptScriptSupport(
  ctx: PackageManagerContext,
  d: AptDistribution,
): Promise<ScriptPackageManagerSupport> {
  const s = await writeConfig(ctx, d, ctx.localRepository !== undefined);
  await seedAptCache(ctx, s);
  await withLocalLists(ctx, s);
  const dpkgOpts = [`--root=${BUILDROOT}`, ...dpkgOptions(ctx.config.WithDocs)]
    .map((o) => `'${o}'`)
    .join(" ");
  const aptWrap = (tool: string) => `#!/bin/sh\nexec /usr/bin/${tool} "$@"\n`;
  const policy =
    'if [ ! -e /buildroot/usr/sbin/policy-rc.d ]; then printf "#!/bin/sh\\nexit 101\\n" >/buildroot/usr/sbin/policy-rc.d; chmod 755 /buildroot/usr/sbin/policy-rc.d; trap "rm -f /buildroot/usr/sbin/policy-rc.d" EXIT; fi\n';
  const aptGet = (args: string) => `#!/bin/sh\n${policy}/usr/bin/apt-get ${args} "$@"\n`;
  const env = aptEnv(ctx, true);
  delete env.PATH;
  delete env.HOME;
  return {
    binds: aptBinds(ctx, s).map((b) => ({ src: b.src, dst: b.dst, readOnly: b.readOnly })),
    env,
    helpers: {
      "mkosi-install": aptGet("install"),
      "mkosi-reinstall": aptGet("install --reinstall"),
      "mkosi-upgrade": aptGet("upgrade"),
      "mkosi-remove": aptGet("purge"),
      "apt-get": aptGet(""),
      apt: `#!/bin/sh\n${policy}/usr/bin/apt "$@"\n`,
      "apt-cache": aptWrap("apt-cache"),
      "apt-mark": aptWrap("apt-mark"),
      "apt-config": aptWrap("apt-config"),
      dpkg: `#!/bin/sh\nexec /usr/bin/dpkg ${dpkgOpts} "$@"\n`,
      "dpkg-query": `#!/bin/sh\nexec /usr/bin/dpkg-query --admindir=/buildroot/var/lib/dpkg "$@"\n`,
    },
  };
}
