// [Validation] settings.
import { SECURE_BOOT_SIGN_TOOLS, VERITY_MODES } from "../enums.js";
import { parseCertificate, parseKey } from "../paths.js";
import { makeKeySourceParser, parseBoolean, parseFeature, parseString } from "../values.js";
import { def, enumOf, path } from "./common.js";
import type { Scope, Setting } from "./types.js";

const keySettings = <const P extends string, const Sc extends Scope>(
  prefix: P,
  scope: Sc,
  longPrefix: string,
  what: string,
) =>
  [
    def(`${prefix}Key` as const, "Validation", scope, "optional", parseKey, {
      long: [`${longPrefix}-key`],
      paths: ["key"],
      help: `Private key for ${what}`,
      metavar: "KEY",
    }),
    def(`${prefix}KeySource` as const, "Validation", scope, "value", makeKeySourceParser("key"), {
      long: [`${longPrefix}-key-source`],
      default: { Source: "", Type: "file" },
      help: `The source to use to retrieve the ${what} key`,
      metavar: "SOURCE[:ENGINE]",
    }),
    def(`${prefix}Certificate` as const, "Validation", scope, "optional", parseCertificate, {
      long: [`${longPrefix}-certificate`],
      paths: ["crt"],
      help: `Certificate for ${what}`,
      metavar: "PATH",
    }),
    def(
      `${prefix}CertificateSource` as const,
      "Validation",
      scope,
      "value",
      makeKeySourceParser("certificate"),
      {
        long: [`${longPrefix}-certificate-source`],
        default: { Source: "", Type: "file" },
        help: `The source to use to retrieve the ${what} certificate`,
        metavar: "SOURCE[:PROVIDER]",
      },
    ),
  ] as const;

const [sbKey, sbKeySource, sbCert, sbCertSource] = keySettings(
  "SecureBoot",
  "universal",
  "secure-boot",
  "UEFI SecureBoot",
);

export const VALIDATION_SETTINGS = [
  def("SecureBoot", "Validation", "local", "value", parseBoolean, {
    help: "Sign the resulting kernel/initrd image for UEFI SecureBoot",
    metavar: "BOOL",
  }),
  def("SecureBootAutoEnroll", "Validation", "local", "value", parseBoolean, {
    default: true,
    help: "Automatically enroll the secureboot signing key on first boot",
    metavar: "BOOL",
  }),
  sbKey,
  sbKeySource,
  sbCert,
  sbCertSource,
  def(
    "SecureBootSignTool",
    "Validation",
    "local",
    "value",
    enumOf("SecureBootSignTool", SECURE_BOOT_SIGN_TOOLS),
    {
      default: "auto",
      choices: SECURE_BOOT_SIGN_TOOLS,
      help: "Tool to use for signing PE binaries for secure boot",
      metavar: "TOOL",
    },
  ),
  def(
    "Verity",
    "Validation",
    "local",
    "value",
    enumOf("Verity", VERITY_MODES, { yes: "signed", no: "disabled" }),
    {
      default: "auto",
      choices: VERITY_MODES,
      help: "Configure whether to enforce or disable verity partitions for disk images",
      metavar: "MODE",
    },
  ),
  ...keySettings("Verity", "universal", "verity", "signing verity signature"),
  def("SignExpectedPcr", "Validation", "local", "value", parseFeature, {
    help: "Measure the components of the unified kernel image (UKI) and embed the PCR signature into the UKI",
    metavar: "FEATURE",
  }),
  ...keySettings("SignExpectedPcr", "inherit", "sign-expected-pcr", "signing expected PCR measurements"),
  def("Passphrase", "Validation", "local", "optional", path({ required: false, secret: true }), {
    paths: ["passphrase"],
    secret: true,
    help: "Path to a file containing the passphrase to use when LUKS encryption is selected",
    metavar: "PATH",
  }),
  def("Checksum", "Validation", "local", "value", parseBoolean, {
    defaultFactory: (c) => c.get("sign"),
    optionalArgConst: "yes",
    help: "Write SHA256SUMS file",
    metavar: "BOOL",
  }),
  def("Sign", "Validation", "local", "value", parseBoolean, {
    help: "Write and sign SHA256SUMS file",
    metavar: "BOOL",
  }),
  def("Key", "Validation", "local", "optional", parseString, {
    help: "GPG key to use for signing",
    metavar: "KEY",
  }),
  def("OpenPGPTool", "Validation", "local", "value", parseString, {
    dest: "openpgp_tool",
    long: ["openpgp-tool"],
    default: "gpg",
    help: "OpenPGP implementation to use for signing",
    metavar: "TOOL",
  }),
] as const satisfies readonly Setting[];
