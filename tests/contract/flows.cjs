// Octopus' official TypeScript client (@octopusdeploy/api-client, pinned in package-lock.json)
// against the emulator: one flow per run, as its repositories and its Client use the API.
//
//   node flows.cjs FLOW   (OCTOPUS_URL, OCTOPUS_API_KEY and CONTRACT_SEED, a JSON object of ids, in the environment)
//
// Prints one JSON object of what the client saw; exits 1 with the client's error on stderr.
// The test that runs it (test_official_client.py) checks both the output and the emulator.
"use strict";

const {
  Client,
  ProjectRepository,
  ReleaseRepository,
  SpaceRepository,
  TenantRepository,
  NewSensitiveValue,
  spaceScopedRoutePrefix,
} = require("@octopusdeploy/api-client");

const SPACE = "Default";
const seed = JSON.parse(process.env.CONTRACT_SEED || "{}");
const space = { spaceName: SPACE };

function check(condition, message) {
  if (!condition) throw new Error(`contract: ${message}`);
}

async function failure(promise) {
  try {
    await promise;
  } catch (error) {
    return { status: error.StatusCode, message: error.message };
  }
  throw new Error("contract: the call was expected to fail");
}

const flows = {
  async spaces(client) {
    const spaces = new SpaceRepository(client);
    const listed = await spaces.list({ skip: 0, take: 100 });
    const found = await spaces.list({ partialName: "Default" });
    const byId = await spaces.get(found.Items[0].Id);
    return {
      names: listed.Items.map((s) => s.Name),
      total: listed.TotalResults,
      found: found.Items.map((s) => s.Name),
      byId: byId.Name,
      isDefault: byId.IsDefault,
    };
  },

  async projects(client) {
    const projects = new ProjectRepository(client, SPACE);
    const listed = await projects.list({ partialName: "Phoenix" });
    check(listed.Items.length === 1, `one project named like Phoenix, got ${listed.Items.length}`);
    const byId = await projects.get(listed.Items[0].Id);
    const bySlug = await projects.get(byId.Slug);
    byId.AutoDeployReleaseOverrides = [
      ...(byId.AutoDeployReleaseOverrides || []),
      { EnvironmentId: seed.environment, TenantId: seed.tenant, ReleaseId: seed.release },
    ];
    const modified = await projects.modify(byId);
    const again = await projects.get(byId.Id);
    again.AutoDeployReleaseOverrides = [];
    const cleared = await projects.modify(again);
    return {
      id: byId.Id,
      slug: bySlug.Id,
      overrides: modified.AutoDeployReleaseOverrides,
      cleared: cleared.AutoDeployReleaseOverrides,
      templates: byId.Templates.map((t) => t.Name),
    };
  },

  async tenants(client) {
    const tenants = new TenantRepository(client, SPACE);
    const bare = await tenants.create({ Name: "ts-bare" });
    const asCreated = { id: bare.Id, tags: bare.TenantTags, projects: { ...bare.ProjectEnvironments } };
    const tagged = await tenants.create({
      Name: "ts-tagged",
      Description: "with tags and a project",
      TenantTags: ["Feature/Branch"],
      ProjectEnvironments: { [seed.project]: [seed.environment] },
    });
    const duplicate = await failure(tenants.create({ Name: "TS-BARE" }));
    bare.ProjectEnvironments = { [seed.project]: [seed.environment] };
    const connected = await tenants.modify(bare);
    const found = (await tenants.list({ partialName: "ts-bare" })).Items.filter((t) => t.Name === "ts-bare");
    connected.Description = "updated by the TypeScript client";
    connected.TenantTags = ["Feature/Branch"];
    const updated = await tenants.modify(connected);
    const byProject = await tenants.list({ projectId: seed.project });
    await tenants.del(tagged);
    const gone = await failure(tenants.get(tagged.Id));
    return {
      bare: asCreated,
      tagged: { tags: tagged.TenantTags, projects: tagged.ProjectEnvironments },
      duplicate,
      connected: connected.ProjectEnvironments,
      found: found.map((t) => t.Id),
      updated: { description: updated.Description, tags: updated.TenantTags },
      byProject: byProject.Items.map((t) => t.Name).sort(),
      gone,
    };
  },

  async machinePolicies(client) {
    const base = `${spaceScopedRoutePrefix}/machinepolicies`;
    const template = await client.request(`${base}/template`, space);
    const policy = {
      ...template,
      Name: "TS Feature environments",
      Description: "made by the TypeScript client",
      MachineCleanupPolicy: { DeleteMachinesBehavior: "DeleteUnavailableMachines", DeleteMachinesElapsedTimeSpan: "00:20:00" },
    };
    delete policy.Id;
    const created = await client.doCreate(base, policy, space);
    const read = await client.request(`${base}/{id}`, { ...space, id: created.Id });
    await client.del(`${base}/{id}`, { ...space, id: created.Id });
    const gone = await failure(client.request(`${base}/{id}`, { ...space, id: created.Id }));
    return {
      template: { cleanup: template.MachineCleanupPolicy.DeleteMachinesBehavior, retries: template.ConnectionRetryCountLimit },
      created: { id: created.Id, cleanup: read.MachineCleanupPolicy, isDefault: read.IsDefault },
      gone,
    };
  },

  async triggers(client) {
    const base = `${spaceScopedRoutePrefix}/projects/{projectId}/triggers`;
    const args = { ...space, projectId: seed.project };
    const created = await client.doCreate(
      base,
      {
        Name: "TS auto deploy",
        ProjectId: seed.project,
        Filter: {
          FilterType: "MachineFilter",
          EnvironmentIds: [seed.environment],
          Roles: ["web"],
          EventGroups: ["MachineAvailableForDeployment"],
          EventCategories: [],
        },
        Action: { ActionType: "AutoDeploy", ShouldRedeployWhenMachineHasBeenDeployedTo: false },
      },
      args,
    );
    created.IsDisabled = true;
    created.Filter.Roles = ["web", "api"];
    const updated = await client.doUpdate(`${base}/{id}`, created, { ...args, id: created.Id });
    const listed = await client.request(`${base}{?triggerActionType}`, { ...args, triggerActionType: "AutoDeploy" });
    await client.del(`${base}/{id}`, { ...args, id: created.Id });
    const after = await client.request(base, args);
    return {
      created: created.Id,
      updated: { disabled: updated.IsDisabled, roles: updated.Filter.Roles },
      listed: listed.Items.map((t) => t.Id),
      after: after.TotalResults,
    };
  },

  async releases(client) {
    const byVersion = await client.request(`${spaceScopedRoutePrefix}/projects/{projectId}/releases/{version}`, {
      ...space,
      projectId: seed.project,
      version: seed.version,
    });
    const searched = await new ReleaseRepository(client, SPACE).listForProject(seed.project, { searchByVersion: seed.version });
    const missing = await failure(
      client.request(`${spaceScopedRoutePrefix}/projects/{projectId}/releases/{version}`, {
        ...space,
        projectId: seed.project,
        version: "9.9.9-nope",
      }),
    );
    return { byVersion: byVersion.Id, searched: searched.Items.map((r) => r.Version), missing };
  },

  async machines(client) {
    const page = await client.request(`${spaceScopedRoutePrefix}/machines{?skip,take,tenantIds}`, {
      ...space,
      skip: 0,
      take: 30,
      tenantIds: [seed.tenant],
    });
    return { names: page.Items.map((m) => m.Name).sort(), tenants: page.Items.map((m) => m.TenantIds) };
  },

  async tenantVariables(client) {
    const tenants = new TenantRepository(client, SPACE);
    const tenant = await tenants.get(seed.tenant);
    const missing = await tenants.getProjectVariables(tenant, true);
    const written = await tenants.modifyProjectVariables(tenant, [
      { TemplateId: seed.urlTemplate, Value: "https://ts.example", Scope: { EnvironmentIds: [seed.environment] } },
      { TemplateId: seed.secretTemplate, Value: NewSensitiveValue("ts-s3cret"), Scope: { EnvironmentIds: [] } },
    ]);
    const document = await tenants.getVariables(tenant);
    const section = document.ProjectVariables[seed.project];
    section.Variables[seed.environment][seed.urlTemplate] = "https://ts.example/v2";
    const set = await tenants.setVariables(tenant, document);
    const read = await tenants.getProjectVariables(tenant);
    return {
      missing: missing.MissingVariables.map((m) => m.Template.Name).sort(),
      written: written.Variables.map((v) => [v.Template.Name, v.Value]),
      document: set.ProjectVariables[seed.project].Variables[seed.environment],
      read: read.Variables.map((v) => [v.Template.Name, v.Value, v.Scope.EnvironmentIds]),
    };
  },
};

async function main() {
  const name = process.argv[2];
  const flow = flows[name];
  if (!flow) {
    console.error(`unknown flow ${name}; known: ${Object.keys(flows).join(", ")}`);
    process.exit(2);
  }
  const client = await Client.create({
    instanceURL: process.env.OCTOPUS_URL,
    apiKey: process.env.OCTOPUS_API_KEY,
    userAgentApp: "phoenix-contract-tests",
  });
  console.log(JSON.stringify(await flow(client)));
}

main().catch((error) => {
  console.error(`${error.name}: ${error.message}${error.StatusCode ? ` (HTTP ${error.StatusCode})` : ""}`);
  process.exit(1);
});
