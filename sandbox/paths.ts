// Fixed paths inside the sandbox, shared by the runner (run.ts) and the script environment (scripts.ts)
// without making planning, which needs the environment, load the runner.

/** Where the image root is mounted in the "tools" sandbox layout. */
export const BUILDROOT = "/buildroot";
