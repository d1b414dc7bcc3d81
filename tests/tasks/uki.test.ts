// The pieces of the uki step that need no tools: a UKI profile's .profile section as upstream writes it,
// and the systemd version of a stub from its SBAT section (profiles need systemd-stub ≥ 257).
import { describe, expect, it } from "vitest";
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
});
