// The pieces of the uki step that need no tools: a UKI profile's .profile section as upstream writes it,
// and the systemd version of a stub from its SBAT section (profiles need systemd-stub ≥ 257).
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { copyFirstStub } from "../../tasks/bootfiles.js";
import { profileSection, stubVersion } from "../../tasks/steps/uki.js";

describe("uki step", () => {
  it("writes a profile's KEY=value lines, quoting values with blanks", () => {
    expect(profileSection({ ID: "profile1", TITLE: "Profile One" })).toBe(
      'ID=profile1\nTITLE="Profile One"\n',
    );
    expect(profileSection({ ID: "x", TITLE: 'say "hi"' })).toBe('ID=x\nTITLE="say \\"hi\\""\n');
  });

  it("reads the systemd version of a stub from its SBAT section, old and new style", () => {
    const sbat = (line: string) =>
      `\0\0MZ...sbat,1,SBAT Version,sbat,1,https://x\n${line}\nsystemd.debian,1,…\n`;
    expect(stubVersion(sbat("systemd,1,The systemd Developers,systemd,252,https://systemd.io/"))).toBe(252);
    expect(stubVersion(sbat("systemd-stub,1,The systemd Developers,systemd,262,https://systemd.io/"))).toBe(
      262,
    );
    expect(stubVersion("no sbat here")).toBeUndefined();
  });

  it("takes the addon stub from the first root that has it (the image, then the tools tree)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mkosi-stub-"));
    try {
      const stub = "usr/lib/systemd/boot/efi/addonx64.efi.stub";
      const [image, tools, dest] = ["image", "tools", "dest"].map((name) => join(dir, name));
      mkdirSync(join(tools!, stub, ".."), { recursive: true });
      writeFileSync(join(tools!, stub), "tools");
      expect(await copyFirstStub([image!, tools!], stub, dest!)).toBe(true);
      expect(readFileSync(dest!, "utf8")).toBe("tools");
      mkdirSync(join(image!, stub, ".."), { recursive: true });
      writeFileSync(join(image!, stub), "image");
      expect(await copyFirstStub([image!, tools!], stub, dest!)).toBe(true);
      expect(readFileSync(dest!, "utf8")).toBe("image");
      expect(await copyFirstStub([join(dir, "none")], stub, dest!)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
