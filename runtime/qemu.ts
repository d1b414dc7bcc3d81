// `mkosi vm` with qemu: firmware (direct kernel boot, OVMF with or without Secure Boot, SeaBIOS), KVM or
// software emulation, the image as a virtio disk (or CD-ROM, or removable USB stick), a directory image
// over virtiofs, cpio images as the initrd, credentials through SMBIOS, a TPM from swtpm, vsock when the
// host has vhost-vsock, Drives=, QemuArgs= and the arguments after the verb. The guest's exit status is
// the verb's (qemu's, and with vsock the EXIT_STATUS= the guest's systemd reports).
import { spawn } from "node:child_process";
import { createHash, randomInt } from "node:crypto";
import { closeSync, existsSync, openSync, statSync } from "node:fs";
import { copyFile, mkdir, readFile, truncate, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { arch } from "node:os";
import { join } from "node:path";
import { credentialsOf, qemuCredentialArgs } from "./credentials.js";
import { ephemeralDiskCopy } from "./diskcopy.js";
import { driveArgs } from "./drives.js";
import { type Firmware, findOvmf, resolveFirmware } from "./firmware.js";
import { runForeground } from "./foreground.js";
import { RuntimeError } from "./host.js";
import { bootFiles } from "./kernel.js";
import { decideKvm, probeKvm } from "./kvm.js";
import { DISK_FORMATS, type Machine } from "./machine.js";
import { runtimeMounts } from "./mounts.js";
import { type ImageNamespace, inImageNamespace, namespacedImage } from "./namespace.js";
import { Scratch } from "./scratch.js";
import { findTool, requireTool } from "./tools.js";
import { startVirtiofsd, type VirtiofsShare, virtiofsQemuArgs } from "./virtiofs.js";
import { writeState } from "./vmstate.js";

export interface VmRequest {
  machine: Machine;
  /** Arguments after the verb: appended to qemu's command line. */
  cmdline: string[];
  debug: boolean;
}

const QEMU_BINARY: Record<string, string> = {
  "x86-64": "qemu-system-x86_64",
  x86: "qemu-system-i386",
  arm64: "qemu-system-aarch64",
  arm: "qemu-system-arm",
  riscv64: "qemu-system-riscv64",
  ppc64: "qemu-system-ppc64",
  s390x: "qemu-system-s390x",
};

const HOST_ARCHITECTURE: Record<string, string> = { x64: "x86-64", arm64: "arm64", ia32: "x86" };

const SERIAL_CONSOLE: Record<string, string> = { "x86-64": "ttyS0", x86: "ttyS0", arm64: "ttyAMA0" };

/** A TCP port on 127.0.0.1 nobody listens on now (for ssh without vsock). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

/** VSock=: a vhost-vsock device when the host has one (auto), or a clear failure (yes). */
function vsockAvailable(setting: "enabled" | "disabled" | "auto"): boolean {
  if (setting === "disabled") return false;
  let ok = false;
  try {
    closeSync(openSync("/dev/vhost-vsock", "r+"));
    ok = true;
  } catch {
    ok = false;
  }
  if (!ok && setting === "enabled")
    throw new RuntimeError("VSock=yes, but /dev/vhost-vsock is missing here (load the vhost_vsock module)");
  return ok;
}

function vsockCid(machine: Machine): number {
  const cid = machine.runtime.VSockCID;
  if (cid >= 3) return cid;
  if (cid === -2) {
    const digest = createHash("sha256").update(machine.output).digest();
    return 3 + (digest.readUInt32BE(0) % (0xffffffff - 3));
  }
  return randomInt(3, 0xfffffffe);
}

/** Console=: how the guest's serial console meets the terminal. */
function consoleArgs(mode: Machine["runtime"]["Console"]): string[] {
  switch (mode) {
    case "gui":
      return ["-device", "virtio-vga", "-serial", "none"];
    case "native":
      // qemu's own: serial and monitor multiplexed on stdio (Ctrl-a c), Ctrl-C ends qemu.
      return [
        "-display",
        "none",
        "-chardev",
        "stdio,id=console,mux=on,signal=on",
        "-serial",
        "chardev:console",
        "-mon",
        "console",
      ];
    case "read-only":
      return ["-display", "none", "-chardev", "stdio,id=console,signal=off", "-serial", "chardev:console"];
    default:
      // Input goes to the guest (Ctrl-C included); Ctrl-a x ends qemu.
      return [
        "-display",
        "none",
        "-chardev",
        "stdio,id=console,mux=on,signal=off",
        "-serial",
        "chardev:console",
        "-mon",
        "console",
      ];
  }
}

async function startSwtpm(scratch: Scratch, dir: string): Promise<string[]> {
  const swtpm = requireTool("swtpm");
  const state = join(dir, "tpm");
  await mkdir(state);
  const socket = join(dir, "swtpm.sock");
  const daemon = spawn(
    swtpm,
    ["socket", "--tpm2", "--tpmstate", `dir=${state}`, "--ctrl", `type=unixio,path=${socket}`, "--terminate"],
    { stdio: ["ignore", "ignore", "inherit"] },
  );
  scratch.defer(() => {
    daemon.kill("SIGTERM");
  });
  for (let i = 0; i < 100 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 50));
  if (!existsSync(socket)) throw new RuntimeError("swtpm did not start");
  return [
    "-chardev",
    `socket,id=chrtpm,path=${socket}`,
    "-tpmdev",
    "emulator,id=tpm0,chardev=chrtpm",
    "-device",
    "tpm-tis,tpmdev=tpm0",
  ];
}

/** One file with all initrds, as qemu takes one -initrd. */
async function combinedInitrd(initrds: string[], dir: string): Promise<string | null> {
  if (initrds.length === 0) return null;
  if (initrds.length === 1) return initrds[0] as string;
  const path = join(dir, "initrd");
  await writeFile(path, Buffer.concat(await Promise.all(initrds.map((initrd) => readFile(initrd)))));
  return path;
}

export async function runQemu(request: VmRequest): Promise<number> {
  const { machine } = request;
  const { runtime, image } = machine;
  const format = image.Format;
  const isDisk = DISK_FORMATS.has(format);
  const isUki = format === "uki";
  if (!isDisk && !isUki && format !== "directory" && format !== "cpio")
    throw new RuntimeError(`vm boots disk, esp, uki, directory and cpio images, not Format=${format}`);
  const qemuName = QEMU_BINARY[image.Architecture];
  if (!qemuName) throw new RuntimeError(`vm: no qemu for Architecture=${image.Architecture}`);
  const qemu = requireTool(qemuName);
  const firmware: Firmware = resolveFirmware(machine);
  const directKernel = firmware === "linux" || firmware === "linux-noinitrd";
  if (format === "directory" && !directKernel)
    throw new RuntimeError(
      `A directory image boots with Firmware=linux (direct kernel boot), not Firmware=${firmware}`,
    );
  if (format === "cpio" && !directKernel && firmware !== "uefi" && firmware !== "uefi-secure-boot")
    throw new RuntimeError(`A cpio image boots with direct kernel boot, not Firmware=${firmware}`);

  const scratch = new Scratch();
  try {
    const dir = await scratch.directory("mkosi-vm");
    const x86 = image.Architecture === "x86-64" || image.Architecture === "x86";
    const secure = firmware === "uefi-secure-boot";
    const machineType = x86 ? "q35" : "virt";
    const hostArchitecture = HOST_ARCHITECTURE[arch()] ?? arch();
    const kvm = decideKvm(
      runtime.KVM,
      () => probeKvm(qemu, machineType, secure, dir),
      hostArchitecture === image.Architecture && x86,
    );
    const cpus = runtime.CPUs === 0 ? (await import("node:os")).availableParallelism() : runtime.CPUs;
    const memory = Math.max(1, Math.floor(runtime.RAM / (1024 * 1024)));
    const args = [qemu, "-machine", `${machineType}${x86 ? `,smm=${secure ? "on" : "off"}` : ""}`];
    args.push("-accel", kvm ? "kvm" : "tcg", "-cpu", kvm ? "host" : "max");
    args.push("-smp", String(cpus), "-m", `${memory}M`, "-nodefaults", "-no-user-config");
    args.push("-object", "rng-random,filename=/dev/urandom,id=rng0", "-device", "virtio-rng-pci,rng=rng0");
    args.push(...consoleArgs(runtime.Console));

    // Firmware.
    if (firmware === "uefi" || firmware === "uefi-secure-boot") {
      const ovmf = findOvmf(machine, firmware);
      const vars = join(dir, "ovmf-vars.fd");
      const template =
        runtime.FirmwareVariables &&
        !["custom", "microsoft", "microsoft-mok"].includes(runtime.FirmwareVariables)
          ? runtime.FirmwareVariables
          : ovmf.vars;
      if (runtime.FirmwareVariables === "custom" || runtime.FirmwareVariables === "microsoft-mok")
        throw new RuntimeError(
          `FirmwareVariables=${runtime.FirmwareVariables} needs virt-fw-vars (python3-virt-firmware), which this implementation does not run yet`,
        );
      await copyFile(template, vars);
      if (secure)
        args.push(
          "-global",
          "ICH9-LPC.disable_s3=1",
          "-global",
          "driver=cfi.pflash01,property=secure,value=on",
        );
      args.push("-drive", `if=pflash,format=raw,readonly=on,file=${ovmf.code}`);
      args.push("-drive", `if=pflash,format=raw,file=${vars}`);
    }

    // The image.
    let imagePath = machine.output;
    if (isDisk && runtime.Ephemeral) imagePath = ephemeralDiskCopy(imagePath, scratch);
    if (isDisk && runtime.RuntimeSize && statSync(imagePath).size < runtime.RuntimeSize)
      await truncate(imagePath, runtime.RuntimeSize);
    const cmdline: string[] = [];
    const shares: VirtiofsShare[] = [];
    if (format === "directory") {
      const ns: ImageNamespace = {
        runtimeDir: await scratch.directory("mkosi-machine"),
        machine: machine.name,
        kind: "directory",
        image: machine.output,
        ephemeral: runtime.Ephemeral,
      };
      shares.push(
        await startVirtiofsd("root", namespacedImage(ns), scratch, dir, (argv) => inImageNamespace(ns, argv)),
      );
      cmdline.push("root=virtiofs:root", "rw");
    }
    const fstab: string[] = [];
    const mounts = await runtimeMounts(machine, scratch, { vm: true });
    for (const [i, mount] of mounts.entries()) {
      const tag = `mkosi-mount-${i}`;
      shares.push(await startVirtiofsd(tag, mount.source, scratch, dir));
      fstab.push(`${tag} ${mount.target} virtiofs x-initrd.mount`);
    }
    if (shares.length > 0) {
      args.push(
        "-object",
        `memory-backend-memfd,id=mem,size=${memory}M,share=on`,
        "-machine",
        "memory-backend=mem",
      );
      args.push(...virtiofsQemuArgs(shares));
    }
    if (isDisk) {
      const cache = "cache.writeback=on,cache.direct=off,cache.no-flush=on";
      args.push("-drive", `if=none,id=mkosi,file=${imagePath},format=raw,discard=on,${cache}`);
      if (runtime.CDROM)
        args.push("-device", "virtio-scsi-pci,id=scsi", "-device", "scsi-cd,drive=mkosi,bootindex=1");
      else if (runtime.Removable)
        args.push("-device", "qemu-xhci", "-device", "usb-storage,drive=mkosi,removable=on,bootindex=1");
      else args.push("-device", "virtio-blk-pci,drive=mkosi,bootindex=1");
    }

    // Kernel for direct boot, and its command line. OVMF boots a UKI given as the kernel (fw_cfg).
    const serial = SERIAL_CONSOLE[image.Architecture];
    if (isUki) args.push("-kernel", machine.output);
    if (directKernel) {
      const files = bootFiles(machine, firmware === "linux");
      args.push("-kernel", files.kernel);
      const initrd = await combinedInitrd(files.initrds, dir);
      if (initrd) args.push("-initrd", initrd);
      if (format === "cpio") cmdline.push("rdinit=/sbin/init");
      if (serial && runtime.Console !== "gui") cmdline.push(`console=${serial}`);
      cmdline.push(...runtime.KernelCommandLine, ...runtime.KernelCommandLineExtra);
      args.push("-append", cmdline.join(" "));
    } else if (runtime.KernelCommandLineExtra.length > 0 || serial) {
      // systemd-stub (v254+) appends this SMBIOS string to the UKI's command line.
      const extra = [
        ...(serial && runtime.Console !== "gui" ? [`console=${serial}`] : []),
        ...runtime.KernelCommandLineExtra,
      ];
      args.push("-smbios", `type=11,value=io.systemd.stub.kernel-cmdline-extra=${extra.join(" ")}`);
    }

    // Network; without vsock, ssh reaches the guest through a forwarded port.
    const vsock = vsockAvailable(runtime.VSock);
    let sshPort: number | null = null;
    if (runtime.RuntimeNetwork === "user") {
      sshPort = vsock ? null : await freePort();
      const forward = sshPort ? `,hostfwd=tcp:127.0.0.1:${sshPort}-:22` : "";
      args.push("-nic", `user,model=virtio-net-pci${forward}`);
    } else if (runtime.RuntimeNetwork === "interface") {
      args.push("-nic", "tap,script=no,downscript=no,model=virtio-net-pci");
    } else {
      args.push("-nic", "none");
    }
    const cid = vsock ? vsockCid(machine) : null;
    if (cid !== null) args.push("-device", `vhost-vsock-pci,guest-cid=${cid}`);

    // TPM: auto when swtpm is installed and the firmware can use one.
    const tpmWanted =
      runtime.TPM === "enabled" ||
      (runtime.TPM === "auto" && findTool("swtpm") !== null && firmware !== "bios");
    if (tpmWanted) args.push(...(await startSwtpm(scratch, dir)));

    // Credentials: Credentials=, first-boot defaults, the root's SSH key, extra mounts.
    const extra: Record<string, string> = {};
    if (runtime.SshCertificate) {
      const { sshPublicKeyOf } = await import("./sshkey.js");
      extra["ssh.authorized_keys.root"] = sshPublicKeyOf(runtime.SshCertificate);
    }
    if (fstab.length > 0) extra["fstab.extra"] = `${fstab.join("\n")}\n`;
    args.push(...qemuCredentialArgs(credentialsOf(machine, extra)));

    args.push(...(await driveArgs(machine, scratch)));
    args.push(...runtime.QemuArgs, ...request.cmdline);

    const state = await writeState({ name: machine.name, pid: process.pid, cid, sshPort });
    scratch.remove(state);
    return await runForeground(args, {
      debug: request.debug,
      stdin: runtime.Console === "read-only" ? "ignore" : "inherit",
    });
  } finally {
    await scratch.dispose();
  }
}
