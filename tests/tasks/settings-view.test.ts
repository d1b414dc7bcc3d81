// Declared settings, enforced: a step sees only the settings it declares, and every one it reads must reach
// its key (or be listed as deliberately unkeyed, with the reason).
import { describe, expect, it } from "vitest";
import type { DeclaredInputs, TaskDefinition } from "../../engine/api.js";
import { stepParams } from "../../tasks/plan.js";
import type { AnyStep, StepPlanContext } from "../../tasks/step.js";
import { DIR, image, planEnv } from "./fixture.js";

interface P {
  read: () => unknown;
  inputs: DeclaredInputs;
}

function step(
  reads: AnyStep["reads"],
  params: (c: StepPlanContext) => P,
  unkeyed?: AnyStep["unkeyed"],
): AnyStep {
  const task: TaskDefinition<P> = {
    name: "probe",
    implementation: "test",
    inputs: (p) => p.inputs,
    run: async (_ctx, p) => {
      p.read();
      return undefined;
    },
  };
  return { name: "probe", task, reads, unkeyed, layer: false, wanted: () => true, params };
}

const context = (): StepPlanContext => ({
  image: image({ Hostname: "alpha" }),
  env: planEnv(),
  prev: undefined,
  nodes: {},
  dependencyBuilds: [],
  tools: null,
});

describe("settings a step reads", () => {
  it("reading an undeclared setting fails planning", () => {
    const s = step(["Hostname"], ({ image }) => ({
      read: () => 0,
      inputs: { values: { Locale: image.Locale } },
    }));
    expect(() => stepParams(s, context())).toThrow(/step probe reads Locale= without declaring it/);
  });

  it("a declared setting the key does not cover fails planning", () => {
    const s = step(["Hostname"], ({ image }) => ({
      read: () => 0,
      inputs: { values: { name: image.Hostname } },
    }));
    expect(() => stepParams(s, context())).toThrow(
      /step probe reads Hostname= but its key does not cover it/,
    );
  });

  it("a declared setting under its own name, as a secret, or unkeyed with a reason passes", () => {
    const value = step(["Hostname"], ({ image }) => ({
      read: () => 0,
      inputs: { values: { Hostname: image.Hostname } },
    }));
    expect(() => stepParams(value, context())).not.toThrow();
    const secret = step(["RootPassword"], ({ image }) => ({
      read: () => 0,
      inputs: { secrets: { RootPassword: image.RootPassword } },
    }));
    expect(() => stepParams(secret, context())).not.toThrow();
    const exempt = step(["CacheOnly"], ({ image }) => ({ read: () => image.CacheOnly, inputs: {} }), {
      CacheOnly: "test",
    });
    expect(() => stepParams(exempt, context())).not.toThrow();
  });

  it("a path setting is covered by its paths as path inputs, not by its spelling", () => {
    const covered = step(["ExtraTrees"], ({ image }) => ({
      read: () => 0,
      inputs: { paths: image.ExtraTrees.map((t) => ["extra", t.Source] as const) },
    }));
    expect(() => stepParams(covered, context())).not.toThrow();
    const uncovered = step(["ExtraTrees"], ({ image }) => ({
      read: () => 0,
      inputs: { paths: [["other", `${DIR}/elsewhere`]], values: { n: image.ExtraTrees.length } },
    }));
    expect(() => stepParams(uncovered, context())).toThrow(/reads ExtraTrees= but its key does not cover it/);
  });

  it("a view kept in the parameters still throws when the task reads an undeclared setting at run time", async () => {
    const s = step(["Hostname"], ({ image }) => ({
      read: () => image.Timezone,
      inputs: { values: { Hostname: image.Hostname } },
    }));
    const params = stepParams(s, context()) as P;
    await expect(s.task.run({} as never, params)).rejects.toThrow(/reads Timezone= without declaring it/);
  });

  it("only a step that reads everything gets $MKOSI_CONFIG, and then every setting must be covered", () => {
    const listed = step(["Hostname"], ({ image, env }) => ({
      read: () => 0,
      inputs: { values: { Hostname: image.Hostname, c: env.configJson(image) } },
    }));
    expect(() => stepParams(listed, context())).toThrow(/\$MKOSI_CONFIG needs the whole configuration/);
    const all = step("all", ({ image, env }) => ({
      read: () => 0,
      inputs: { values: { MKOSI_CONFIG: JSON.parse(env.configJson(image)) } },
    }));
    expect(() => stepParams(all, context())).not.toThrow();
    const forgetful = step("all", ({ image, env }) => {
      const config = JSON.parse(env.configJson(image));
      delete config.Seed;
      return { read: () => 0, inputs: { values: { MKOSI_CONFIG: config } } };
    });
    expect(() => stepParams(forgetful, context())).toThrow(/reads Seed= but its key does not cover it/);
  });
});
