// What the host offers the machines mkosi starts: a systemd service manager to allocate scopes in, and
// systemd-machined to register with. PID 1 need not be systemd (containers, CI runners).
import { existsSync } from "node:fs";

/** systemd runs as the service manager here (sd_booted()'s test). */
export function hostHasSystemdManager(): boolean {
  return existsSync("/run/systemd/system");
}

/** systemd-machined can be reached: a systemd host with a system bus. */
export function hostHasMachined(): boolean {
  return hostHasSystemdManager() && existsSync("/run/dbus/system_bus_socket");
}

/** udev runs (systemd-nspawn --image= and other dissecting tools need it). */
export function hostHasUdev(): boolean {
  return existsSync("/run/udev/control");
}

export class RuntimeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RuntimeError";
  }
}

/** Register=: whether to register the machine with machined (auto: when it is there). */
export function shouldRegister(setting: "enabled" | "disabled" | "auto"): boolean {
  if (setting === "disabled") return false;
  const available = hostHasMachined();
  if (setting === "enabled" && !available)
    throw new RuntimeError(
      "Register=yes, but systemd-machined is not available on this host (PID 1 is not systemd or there is no system bus)",
    );
  return available;
}
