// The disk tests, one after the other in one test file. They share one cache and take turns on its lock
// (harness.ts takeDiskTurn); as test files of their own, a worker that picked one while another ran sat
// idle on the lock for up to a quarter of an hour, a third of CI's two workers. Here they hold one worker
// and the other runs the rest of the suite. The order: the bootable disk first (it builds the default tools
// tree and initrd the others reuse). One file alone: `npx vitest run tests/disk/chain.test.ts -t <name>`.
import "./bootable.disk.js";
import "./grub.disk.js";
import "./verity.disk.js";
import "./extensions.disk.js";
import "./disk.disk.js";
