// mkosi vm under software emulation (this host's /dev/kvm cannot run guests: KVM=auto must notice and
// fall back). One real boot of a bookworm directory image over virtiofs with direct kernel boot, and fast
// runs of hand-made disks for the firmware paths (SeaBIOS, OVMF), the guest's exit status, Drives=,
// Ephemeral= and Ctrl-C in a terminal.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { beforeAll, describe, expect, it } from "vitest";
import { Tmux } from "../e2e/tmux.js";
import { biosDisk, uefiShellDisk } from "./disks.js";
import { bookwormTree, MKOSI, PACKAGE_CACHE, REPORT_UNIT, runMkosi, startMkosi } from "./helpers.js";

const DEBUG_EXIT = "--qemu-args=-device isa-debug-exit,iobase=0xf4,iosize=0x04";

/** The output line of the stty probe (the typed command holds "-icanon" and "echo" too). */
const STTY_LINE = /^-?icanon -?echo\s*$/m;

/** A directory holding a hand-made disk as the output of a configuration-less mkosi (Format=disk). */
async function diskDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), "mkosi-vm-disk-"));
}

describe("vm with hand-made disks", () => {
  it("boots a BIOS disk with SeaBIOS and returns the guest's exit status", async () => {
    const dir = await diskDir();
    biosDisk(join(dir, "image.raw"), 5);
    const run = await runMkosi(
      ["--format=disk", "--firmware=bios", "--console=read-only", DEBUG_EXIT, "vm"],
      {
        cwd: dir,
      },
    );
    expect(run.code).toBe(11);
  });

  it("warns and falls back to software emulation when /dev/kvm cannot run guests, and fails with KVM=yes", async () => {
    const dir = await diskDir();
    biosDisk(join(dir, "image.raw"), 0);
    const auto = await runMkosi(
      ["--format=disk", "--firmware=bios", "--console=read-only", DEBUG_EXIT, "vm"],
      {
        cwd: dir,
      },
    );
    expect(auto.code).toBe(1);
    const kvm = spawnSync("sh", ["-c", "test -w /dev/kvm"]).status === 0;
    if (auto.stderr.includes("KVM cannot run guests here")) {
      expect(auto.stderr).toContain("falling back to software emulation");
      const forced = await runMkosi(
        ["--format=disk", "--firmware=bios", "--kvm=yes", "--console=read-only", "vm"],
        {
          cwd: dir,
        },
      );
      expect(forced.code).toBe(1);
      expect(forced.stderr).toContain("KVM=yes, but KVM cannot run guests here");
    } else {
      // A host whose KVM works: no warning, and the guest ran with it.
      expect(kvm).toBe(true);
    }
  });

  it("boots a GPT disk's ESP with OVMF (Firmware=uefi) and a TPM from swtpm", async () => {
    const dir = await diskDir();
    uefiShellDisk(join(dir, "image.raw"), "echo MKOSI-UEFI-SHELL-RAN\nreset -s\n", dir);
    const run = await runMkosi(
      ["--format=disk", "--firmware=uefi", "--tpm=yes", "--console=read-only", "vm"],
      {
        cwd: dir,
      },
    );
    expect(run.stdout).toContain("MKOSI-UEFI-SHELL-RAN");
    expect(run.code).toBe(0);
  }, 300_000);

  it("leaves the disk untouched with Ephemeral=yes, creates Drives= and removes them afterwards", async () => {
    const dir = await diskDir();
    const image = join(dir, "image.raw");
    biosDisk(image, 7);
    const before = readFileSync(image);
    const drives = await mkdtemp(join(tmpdir(), "mkosi-vm-drives-"));
    const run = await runMkosi(
      [
        "--format=disk",
        "--firmware=bios",
        "--console=read-only",
        "--ephemeral=yes",
        `--drive=scratch:16M:${drives}`,
        `--drive=kept:1M:${drives}:::persist`,
        "--qemu-args=-device isa-debug-exit,iobase=0xf4,iosize=0x04 -device virtio-blk-pci,drive=scratch",
        "vm",
      ],
      { cwd: dir },
    );
    expect(run.code).toBe(15);
    expect(readFileSync(image).equals(before)).toBe(true);
    expect(readdirSync(dir)).toEqual(["image.raw"]);
    expect(readdirSync(drives)).toEqual(["mkosi-drive-main-kept"]);
  });
});

describe("vm in a terminal", () => {
  it("restores the terminal and removes the ephemeral copy when the VM ends by Ctrl-C or is killed", async () => {
    const dir = await diskDir();
    biosDisk(join(dir, "image.raw")); // spins forever
    const tmux = new Tmux();
    tmux.start(dir);
    try {
      const ephemeral = () => readdirSync(dir).filter((name) => name.startsWith(".mkosi-ephemeral-"));
      const tty = tmux.run(["display-message", "-p", "-t", tmux.session, "#{pane_tty}"]).trim();
      // qemu has the terminal (raw mode) once canonical input is off on the pane's tty.
      const raw = () =>
        /(^|\s)-icanon(\s|$)/.test(execFileSync("stty", ["-F", tty, "-a"], { encoding: "utf8" }));
      // Console=native: qemu's own console, where Ctrl-C ends qemu.
      tmux.type(`${MKOSI} --format=disk --firmware=bios --console=native --ephemeral=yes vm; echo "exit=$?"`);
      await tmux.waitFor("qemu to run", () => ephemeral().length === 1 && raw(), 60_000);
      tmux.key("C-c");
      await tmux.waitFor("mkosi to exit", (screen) => /exit=\d+/.test(screen), 60_000);
      expect(ephemeral()).toEqual([]);
      tmux.type(
        "stty -a | tr ' ;' '\\n\\n' | grep -x -e icanon -e -icanon -e echo -e -echo | tr '\\n' ' '; echo",
      );
      await tmux.waitFor("stty", (screen) => STTY_LINE.test(screen));
      expect(tmux.screen()).toMatch(/^icanon echo\s*$/m);
      // Console=interactive puts the terminal in raw mode; a qemu killed with SIGKILL cannot undo that.
      tmux.type("clear");
      tmux.type(`${MKOSI} --format=disk --firmware=bios --ephemeral=yes vm; echo "exit=$?"`);
      await tmux.waitFor("qemu to run", () => ephemeral().length === 1 && raw(), 60_000);
      const qemu = execFileSync("ps", ["-eo", "pid,args"], { encoding: "utf8" })
        .split("\n")
        .find((line) => line.includes("qemu-system") && line.includes(dir));
      expect(qemu).toBeDefined();
      process.kill(Number(qemu!.trim().split(/\s+/)[0]), "SIGKILL");
      await tmux.waitFor("mkosi to exit", (screen) => /exit=137/.test(screen), 60_000);
      expect(ephemeral()).toEqual([]);
      tmux.type(
        "stty -a | tr ' ;' '\\n\\n' | grep -x -e icanon -e -icanon -e echo -e -echo | tr '\\n' ' '; echo",
      );
      await tmux.waitFor("stty", (screen) => STTY_LINE.test(screen));
      expect(tmux.screen()).toMatch(/^icanon echo\s*$/m);
    } finally {
      tmux.kill();
    }
  }, 300_000);
});

describe("vm of a bookworm directory image (virtiofs, direct kernel boot), and ssh into it", () => {
  let dir = "";
  let temp = "";
  const env = () => ({ MKOSI_CACHE_DIR: join(dir, ".cache"), TMPDIR: temp });

  beforeAll(async () => {
    dir = await bookwormTree(
      {
        // The distribution's kernel hooks do not run during the build: the initrd is made here, by dracut,
        // with virtiofs (which bookworm's initramfs-tools cannot mount as the root file system).
        "mkosi.postinst.chroot": `#!/bin/sh
set -e
for kver in $(ls /usr/lib/modules); do
  dracut --force --no-hostonly --add virtiofs --kver "$kver" "/boot/initrd.img-$kver"
done
`,
        // Without vsock here, mkosi ssh goes through the port qemu forwards to the guest's port 22: the
        // guest's network must be up for that.
        "mkosi.extra/etc/systemd/network/80-mkosi-test.network":
          "[Match]\nName=en* eth*\n\n[Network]\nDHCP=yes\n",
        // Reports the state and stays up: the test ssh-es in, then powers the VM off through ssh.
        "mkosi.extra/etc/systemd/system/mkosi-test-report.service": REPORT_UNIT.replace(
          "; systemctl poweroff --no-block",
          "",
        ),
      },
      `[Distribution]
Distribution=debian
Release=bookworm

[Output]
Format=directory
ImageId=vmtest

[Content]
Packages=systemd,udev,dbus,linux-image-cloud-amd64,dracut,openssh-server
WithDocs=no
Hostname=vmtest
# Not a first boot: no preset pass over /etc, which is slow over virtiofs under emulation.
MachineId=b2ad55d3a8b24b3c8f0b3c2d1e0f4a5b

[Build]
PackageCacheDirectory=${PACKAGE_CACHE}

[Runtime]
Console=read-only
Ephemeral=yes
# One vCPU: with two, multi-threaded software emulation sometimes traps the guest kernel's live code
# patching (an int3 oops, then a panic).
CPUs=1
# A guest that panics ends the VM instead of hanging the test; no serial getty to wait for.
KernelCommandLineExtra=panic=-1 systemd.mask=serial-getty@ttyS0.service
QemuArgs=-no-reboot
`,
    );
    temp = await mkdtemp(join(tmpdir(), "mkosi-vm-tmp-"));
    // mkosi.key and mkosi.crt: SshKey= and SshCertificate= by their default paths.
    const genkey = await runMkosi(["genkey"], { cwd: dir, env: env() });
    if (genkey.code !== 0) throw new Error(`genkey failed:\n${genkey.stderr}`);
    const run = await runMkosi(["build"], { cwd: dir, env: env() });
    if (run.code !== 0) throw new Error(`build failed (${run.code}):\n${run.stderr}`);
  }, 1_200_000);

  it("boots to multi-user, takes ssh commands, powers off and leaves the output and no scratch files", async () => {
    const output = join(dir, "vmtest");
    const machineId = readFileSync(join(output, "etc/machine-id"), "utf8");
    const vm = startMkosi(["vm"], dir, env());
    try {
      for (let i = 0; i < 9000 && !vm.output().includes("MKOSI-TEST-STATE:"); i++) {
        if (vm.child.exitCode !== null) break;
        await sleep(100);
      }
      expect(vm.output()).toContain("is up to date");
      expect(vm.output()).toContain("MKOSI-TEST-STATE: running");
      const state = await runMkosi(["ssh", "systemctl", "is-system-running"], { cwd: dir, env: env() });
      expect(state.stdout.trim(), state.stderr).toBe("running");
      expect(state.code).toBe(0);
      const status = await runMkosi(["ssh", "sh", "-c", "'exit 3'"], { cwd: dir, env: env() });
      expect(status.code, status.stderr).toBe(3);
      await runMkosi(["ssh", "systemctl", "poweroff"], { cwd: dir, env: env() });
      expect(await vm.exited).toBe(0);
    } finally {
      vm.child.kill("SIGTERM");
    }
    expect(readFileSync(join(output, "etc/machine-id"), "utf8")).toBe(machineId);
    expect(existsSync(join(output, "var/log/journal/b2ad55d3a8b24b3c8f0b3c2d1e0f4a5b"))).toBe(false);
    expect(readdirSync(temp).filter((name) => /^mkosi-(vm|machine|scratch)-/.test(name))).toEqual([]);
    const gone = await runMkosi(["ssh", "true"], { cwd: dir, env: env() });
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain("No running VM named main");
  }, 1_200_000);
});
