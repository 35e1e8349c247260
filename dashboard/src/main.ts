/**
 * headroom's dashboard: capacity against demand, accounts and their windows, policies. Served
 * by the gateway at /dashboard from files built at install time; talks only to the admin API,
 * with the admin token the operator typed in (kept in this tab's session storage).
 */
import htm from "htm";
import { h, render } from "preact";
import { useEffect, useState } from "preact/hooks";
import {
  type AccountRow,
  type AuditEntry,
  api,
  type DraftDiff,
  type Fleet,
  type Live,
  type Overview,
  type PlanRun,
  type PlanSide,
  type PolicyDraft,
  type PolicyRow,
  token,
  Unauthorized,
} from "./api.ts";
import { TimeChart } from "./chart.ts";
import "./style.css";

const html = htm.bind(h);
const PALETTE = ["#1f6feb", "#d1242f", "#1a7f37", "#9a6700", "#8250df", "#bf3989"];

function Login(props: { onSignedIn: () => void }) {
  const [error, setError] = useState<string | null>(null);
  const submit = async (event: Event) => {
    event.preventDefault();
    const value = new FormData(event.target as HTMLFormElement).get("token");
    token.set(String(value ?? ""));
    try {
      await api("/live");
      props.onSignedIn();
    } catch (failure) {
      token.clear();
      setError(failure instanceof Unauthorized ? "That is not the admin token." : String(failure));
    }
  };
  return html`<main class="login">
    <h1>headroom</h1>
    <form onSubmit=${submit}>
      <label for="token">Admin token</label>
      <input id="token" name="token" type="password" autocomplete="current-password" required autofocus />
      <button type="submit">Sign in</button>
      ${error && html`<p role="alert" class="error">${error}</p>`}
    </form>
    <p class="hint">The token is printed once at the gateway's first start, or set with HEADROOM_ADMIN_TOKEN.</p>
  </main>`;
}

/** Polls `load` every `ms` while mounted; the latest value, or the error that stopped it. */
function usePoll<T>(
  load: () => Promise<T>,
  ms: number,
  deps: unknown[] = [],
): { value?: T; error?: unknown; refresh: () => void } {
  const [state, setState] = useState<{ value?: T; error?: unknown }>({});
  // Bumped to load again now (after a change this view made) rather than at the next tick.
  const [generation, setGeneration] = useState(0);
  useEffect(() => {
    let live = true;
    const tick = () =>
      load().then(
        (value) => live && setState({ value }),
        (error: unknown) => {
          // A token that stopped working (rotated, another gateway): back to the login.
          if (error instanceof Unauthorized) {
            token.clear();
            window.location.reload();
          }
          if (live) setState((previous) => ({ ...previous, error }));
        },
      );
    void tick();
    const timer = setInterval(tick, ms);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [...deps, generation]);
  return { ...state, refresh: () => setGeneration((n) => n + 1) };
}

interface Sample {
  at: number;
  overview: Overview;
}

function OverviewView() {
  const [history, setHistory] = useState<Sample[]>([]);
  usePoll(async () => {
    const overview = await api<Overview>("/overview");
    setHistory((previous) => [...previous.slice(-149), { at: Date.now() / 1000, overview }]);
    return overview;
  }, 2000);
  const latest = history.at(-1)?.overview;
  const times = history.map((sample) => sample.at);
  // Rates from consecutive snapshots of the gateway's counters.
  const rate = (pick: (overview: Overview) => number) =>
    history.map((sample, index) => {
      const before = history[index - 1];
      if (!before) return null;
      return (pick(sample.overview) - pick(before.overview)) / Math.max(0.001, sample.at - before.at);
    });
  const families = (latest?.families ?? []).filter((family) => family.capacity_tokens_per_second !== null);
  return html`<section aria-labelledby="overview-title">
    <h2 id="overview-title">Capacity and demand</h2>
    <${StoresStatus} />
    <dl class="tiles">
      <div><dt>Requests so far</dt><dd>${latest?.requests.total ?? "—"}</dd></div>
      <div><dt>429 (limits)</dt><dd>${latest?.requests.rate_limited ?? "—"}</dd></div>
      <div><dt>529 (overloaded)</dt><dd>${latest?.requests.overloaded ?? "—"}</dd></div>
      <div><dt>Latency p50 / p99</dt><dd>${fmtMs(latest?.latency_ms.p50)} / ${fmtMs(latest?.latency_ms.p99)}</dd></div>
    </dl>
    ${families.map(
      (family, index) => html`<${TimeChart}
        key=${family.family}
        title=${`${family.family}: demand in flight against capacity`}
        unit="tokens/s"
        times=${times}
        series=${[
          {
            label: "demand",
            color: PALETTE[index % PALETTE.length],
            values: history.map(
              (sample) =>
                sample.overview.families.find((f) => f.family === family.family)?.demand_tokens_per_second ??
                null,
            ),
          },
          {
            label: "capacity",
            color: "#57606a",
            values: history.map(
              (sample) =>
                sample.overview.families.find((f) => f.family === family.family)
                  ?.capacity_tokens_per_second ?? null,
            ),
          },
        ]}
      />`,
    )}
    <${TimeChart}
      title="Requests per second"
      unit="req/s"
      times=${times}
      series=${[
        { label: "all", color: PALETTE[0], values: rate((o) => o.requests.total) },
        { label: "429", color: PALETTE[3], values: rate((o) => o.requests.rate_limited) },
        { label: "529", color: PALETTE[1], values: rate((o) => o.requests.overloaded) },
      ]}
    />
  </section>`;
}

/**
 * Whether the stores behind the limits answer: the limiter (deciding on Redis, or without it)
 * and the ledger (events waiting for their store). A problem is announced, not just coloured.
 */
function StoresStatus() {
  const { value: live } = usePoll(() => api<Live>("/live"), 2000);
  if (!live) return null;
  const limiterOk = live.limiter_state === "up";
  const ledgerOk = live.ledger.pending === 0 && !live.ledger.saturated;
  const ledgerText = live.ledger.saturated
    ? `${live.ledger.pending.toLocaleString("en-US")} events buffered, full: refusing requests`
    : live.ledger.pending > 0
      ? `${live.ledger.pending.toLocaleString("en-US")} events waiting for the store`
      : "every event written";
  return html`<dl class="tiles stores" role="status" aria-label="Stores">
    <div class=${limiterOk ? "" : "problem"} data-store="limiter">
      <dt>Limiter (${live.limiter})</dt>
      <dd>${limiterOk ? "answering" : `not answering: ${live.limiter_state}`}</dd>
    </div>
    <div class=${ledgerOk ? "" : "problem"} data-store="ledger">
      <dt>Ledger</dt>
      <dd>${ledgerText}</dd>
    </div>
    <div><dt>Requests in flight</dt><dd>${live.in_flight}</dd></div>
  </dl>`;
}

const fmtMs = (ms: number | null | undefined) => (ms === null || ms === undefined ? "—" : `${ms} ms`);

const WINDOW_NAMES: Record<string, string> = {
  "5h": "5-hour window",
  week: "Weekly",
  month: "Monthly spend",
};

function WindowBar(props: { window: AccountRow["windows"][number] }) {
  const { window } = props;
  const fraction = window.limit > 0 ? window.used / window.limit : 0;
  const level = fraction >= 0.9 ? "red" : fraction >= 0.75 ? "amber" : "ok";
  const label = WINDOW_NAMES[window.name] ?? window.name;
  return html`<div class="window">
    <span class="window-name">${label}</span>
    <div
      class=${`bar ${level}`}
      role="meter"
      aria-label=${label}
      aria-valuemin="0"
      aria-valuemax=${window.limit}
      aria-valuenow=${window.used}
      data-window=${window.name}
    >
      <div class="fill" style=${`width: ${Math.min(100, fraction * 100).toFixed(2)}%`}></div>
    </div>
    <span class="pct">${(fraction * 100).toFixed(1)}%</span>
  </div>`;
}

function AccountsView() {
  const [search, setSearch] = useState("");
  const [created, setCreated] = useState<{ key: string; account: string } | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  const [version, setVersion] = useState(0);
  const { value } = usePoll(
    () => api<{ data: AccountRow[] }>(`/accounts?search=${encodeURIComponent(search)}`),
    3000,
    [search, version],
  );
  const create = async (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.target as HTMLFormElement);
    setFailure(null);
    try {
      const key = await api<{ key: string; account: string }>("/keys", {
        method: "POST",
        body: { account: String(form.get("account")), plan: String(form.get("plan")) || undefined },
      });
      setCreated(key);
      setVersion((v) => v + 1);
    } catch (problem) {
      setFailure(String((problem as Error).message));
    }
  };
  const revoke = async (id: string) => {
    await api(`/keys/${id}`, { method: "DELETE" });
    setVersion((v) => v + 1);
  };
  return html`<section aria-labelledby="accounts-title">
    <h2 id="accounts-title">Accounts and keys</h2>
    <form class="create" onSubmit=${create}>
      <label for="new-account">Account</label>
      <input id="new-account" name="account" required />
      <label for="new-plan">Plan</label>
      <input id="new-plan" name="plan" list="plans" placeholder="pro" />
      <datalist id="plans">
        ${["pro", "max-5x", "max-20x", "api-tier-1", "api-tier-2", "api-tier-3", "api-tier-4"].map(
          (plan) => html`<option value=${plan}></option>`,
        )}
      </datalist>
      <button type="submit">Create key</button>
    </form>
    ${failure && html`<p role="alert" class="error">${failure}</p>`}
    ${
      created &&
      html`<p class="secret" role="status">
      New key for ${created.account}, shown only this once: <output id="new-key">${created.key}</output>
    </p>`
    }
    <label for="search">Search accounts</label>
    <input id="search" type="search" value=${search} onInput=${(e: Event) => setSearch((e.target as HTMLInputElement).value)} />
    <table>
      <thead><tr><th scope="col">Account</th><th scope="col">Plan</th><th scope="col">Windows</th><th scope="col">Keys</th></tr></thead>
      <tbody>
        ${(value?.data ?? []).map(
          (row) => html`<tr key=${row.account} data-account=${row.account}>
            <th scope="row">${row.account}${row.team ? html`<small> · team ${row.team}</small>` : ""}</th>
            <td>${row.plan}</td>
            <td>${row.windows.map((window) => html`<${WindowBar} key=${window.name} window=${window} />`)}</td>
            <td>
              ${row.keys.map(
                (key) => html`<div key=${key.id} class="key">
                  <code>${key.prefix}</code>
                  ${
                    key.revoked
                      ? html`<span class="revoked">revoked</span>`
                      : html`<button type="button" aria-label=${`Revoke ${key.id}`} onClick=${() => revoke(key.id)}>Revoke</button>`
                  }
                </div>`,
              )}
            </td>
          </tr>`,
        )}
      </tbody>
    </table>
  </section>`;
}

function PoliciesView() {
  const policies = usePoll(() => api<{ in_force: string; data: PolicyRow[] }>("/policies"), 5000);
  const diff = usePoll(
    () =>
      api<{
        from: string;
        to: string | null;
        changes: Array<{ path: string; before: unknown; after: unknown }>;
      }>("/policies/diff"),
    5000,
  );
  return html`<section aria-labelledby="policies-title">
    <h2 id="policies-title">Policies</h2>
    <p>In force: <strong data-in-force>${policies.value?.in_force ?? "—"}</strong></p>
    <ul class="policies">
      ${(policies.value?.data ?? []).map(
        (policy) => html`<li key=${policy.version}>
          <strong>${policy.version}</strong> from ${policy.effective_from} — ${policy.status}
          ${policy.description ? html`<br /><small>${policy.description}</small>` : ""}
        </li>`,
      )}
    </ul>
    <h3>Next change</h3>
    ${
      diff.value
        ? html`<table class="diff">
          <caption>${diff.value.from} → ${diff.value.to}</caption>
          <thead><tr><th scope="col">Setting</th><th scope="col">Now</th><th scope="col">Then</th></tr></thead>
          <tbody>
            ${diff.value.changes.map(
              (change) => html`<tr key=${change.path}>
                <th scope="row"><code>${change.path}</code></th>
                <td>${JSON.stringify(change.before)}</td>
                <td>${JSON.stringify(change.after)}</td>
              </tr>`,
            )}
          </tbody>
        </table>`
        : html`<p>No dated change is scheduled.</p>`
    }
    <${DraftsView} />
  </section>`;
}

/** Proposed policies under review, each with its diff and the plan's margins, and the audit log. */
function DraftsView() {
  const drafts = usePoll(() => api<{ data: PolicyDraft[] }>("/policies/drafts"), 5000);
  const audit = usePoll(() => api<{ data: AuditEntry[] }>("/policies/audit"), 5000);
  const [review, setReview] = useState<DraftDiff | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  const open = async (id: string) => {
    setFailure(null);
    try {
      setReview(await api<DraftDiff>(`/policies/drafts/${encodeURIComponent(id)}/diff`));
    } catch (problem) {
      setFailure(String((problem as Error).message));
    }
  };
  const decide = async (id: string, decision: "approve" | "reject") => {
    setFailure(null);
    try {
      await api(`/policies/drafts/${encodeURIComponent(id)}/${decision}`, { method: "POST", body: {} });
      setReview(null);
      drafts.refresh();
      audit.refresh();
    } catch (problem) {
      setFailure(String((problem as Error).message));
    }
  };
  return html`<h3>Drafts</h3>
    ${failure && html`<p role="alert" class="error">${failure}</p>`}
    ${
      (drafts.value?.data ?? []).length === 0
        ? html`<p>No drafts. Run a plan (Planner) and propose its policy, or <code>headroom policy propose</code>.</p>`
        : html`<table class="drafts">
        <thead><tr><th scope="col">Draft</th><th scope="col">Version</th><th scope="col">From</th><th scope="col">Status</th><th scope="col">Proposed</th><th scope="col"></th></tr></thead>
        <tbody>
          ${(drafts.value?.data ?? []).map(
            (draft) => html`<tr key=${draft.id} data-draft=${draft.id}>
              <th scope="row"><code>${draft.id}</code></th><td>${draft.version}</td><td>${draft.effective_from}</td>
              <td data-status>${draft.status}</td><td>${draft.proposed_at.slice(0, 16)} by ${draft.proposed_by}${draft.source ? html`<br /><small>${draft.source}</small>` : ""}</td>
              <td>${draft.status === "draft" ? html`<button type="button" onClick=${() => open(draft.id)}>Review</button>` : ""}</td>
            </tr>`,
          )}
        </tbody>
      </table>`
    }
    ${
      review &&
      html`<table class="diff" data-review=${review.draft.id}>
        <caption>${review.draft.version} against ${review.against} (in force at ${review.draft.effective_from})</caption>
        <thead><tr><th scope="col">Setting</th><th scope="col">Then</th><th scope="col">Proposed</th><th scope="col">The plan's margin</th></tr></thead>
        <tbody>
          ${review.changes.map(
            (change) => html`<tr key=${change.path}>
              <th scope="row"><code>${change.path}</code></th>
              <td>${JSON.stringify(change.before)}</td><td>${JSON.stringify(change.after)}</td><td>${change.margin}</td>
            </tr>`,
          )}
        </tbody>
      </table>
      <p>
        <button type="button" onClick=${() => decide(review.draft.id, "approve")}>Approve</button>
        <button type="button" onClick=${() => decide(review.draft.id, "reject")}>Reject</button>
      </p>`
    }
    <h3>Audit log</h3>
    <table class="audit">
      <thead><tr><th scope="col">At</th><th scope="col">Who</th><th scope="col">What</th><th scope="col">Version</th><th scope="col">Draft</th><th scope="col">From</th></tr></thead>
      <tbody>
        ${(audit.value?.data ?? []).map(
          (entry, index) => html`<tr key=${index} data-action=${entry.action}>
            <td>${entry.at.slice(0, 19)}</td><td>${entry.actor}</td><td>${entry.action}</td><td>${entry.version}</td>
            <td>${entry.draft_id ?? ""}</td><td>${entry.source ?? ""}</td>
          </tr>`,
        )}
      </tbody>
    </table>`;
}

function FleetView() {
  const { value, error } = usePoll(() => api<Fleet>("/fleet"), 30_000);
  if (error && !value)
    return html`<section aria-labelledby="fleet-title"><h2 id="fleet-title">Fleet</h2><p>${String((error as Error).message)}</p></section>`;
  if (!value) return html`<p>Loading the fleet…</p>`;
  const families = Object.keys(value.timeline[0]?.tokens_per_second ?? {});
  const times = value.timeline.map((point) => Date.parse(point.at) / 1000);
  return html`<section aria-labelledby="fleet-title">
    <h2 id="fleet-title">Fleet</h2>
    <p>From <code>${value.file}</code>, at ${value.at}.</p>
    <${TimeChart}
      title="Capacity over time: sites and deals joining"
      unit="tokens/s"
      stepped=${true}
      times=${times}
      series=${families.map((family, index) => ({
        label: family,
        color: PALETTE[index % PALETTE.length],
        values: value.timeline.map((point) => point.tokens_per_second[family] ?? null),
      }))}
    />
    ${value.orbits.map(
      (orbit) => html`<${TimeChart}
        key=${orbit.site}
        title=${`${orbit.site}: GPUs online over one orbit (${(orbit.period_s / 60).toFixed(1)} min, as of ${orbit.at.slice(0, 10)})`}
        unit="GPUs"
        time=${false}
        xLabel="minutes into the orbit"
        times=${orbit.samples.map((sample) => sample.minute)}
        series=${[{ label: "GPUs online", color: PALETTE[2], values: orbit.samples.map((sample) => sample.gpus_online) }]}
      />`,
    )}
    <table>
      <caption>Pools now</caption>
      <thead><tr><th scope="col">Site</th><th scope="col">GPU</th><th scope="col">Installed</th><th scope="col">Online</th><th scope="col">Deal</th></tr></thead>
      <tbody>
        ${value.pools.map(
          (pool) => html`<tr key=${`${pool.site}-${pool.gpu}`}>
            <th scope="row">${pool.site}</th><td>${pool.gpu}</td><td>${pool.installed.toLocaleString()}</td>
            <td>${pool.online.toLocaleString()}</td><td>${pool.deal ?? ""}</td>
          </tr>`,
        )}
      </tbody>
    </table>
  </section>`;
}

const yesNo = (value: boolean) => (value ? "yes" : "no");
const times = (value: number) => `${value.toFixed(2)}×`;

function PlannerView() {
  const [running, setRunning] = useState(false);
  const [run, setRun] = useState<PlanRun | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  const submit = async (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.target as HTMLFormElement);
    // The default: the demand this gateway's own ledger measured; a scenario file otherwise.
    const body =
      form.get("source") === "scenario"
        ? { scenario: String(form.get("scenario")) }
        : { from_ledger: { days: Number(form.get("days")) } };
    setRunning(true);
    setFailure(null);
    try {
      setRun(await api<PlanRun>("/plans", { method: "POST", body }));
    } catch (problem) {
      setFailure(String((problem as Error).message));
    } finally {
      setRunning(false);
    }
  };
  const sides: Array<[string, PlanSide | undefined]> = [
    ["Before", run?.plan.before],
    ["After", run?.plan.after],
  ];
  return html`<section aria-labelledby="planner-title">
    <h2 id="planner-title">Planner</h2>
    <form class="create" onSubmit=${submit}>
      <fieldset>
        <legend>Plan from</legend>
        <label><input type="radio" name="source" value="ledger" checked /> this gateway's ledger</label>
        <label for="days">Days of the ledger</label>
        <input id="days" name="days" type="number" min="1" max="90" value="7" />
        <label><input type="radio" name="source" value="scenario" /> a scenario file</label>
        <label for="scenario">Scenario (a file in the planner's scenarios folder)</label>
        <input id="scenario" name="scenario" size="40" value="colossus-deal.yaml" />
      </fieldset>
      <button type="submit" disabled=${running}>${running ? "Planning…" : "Run the plan"}</button>
    </form>
    <p class="hint">A plan simulates a week of demand against the fleet before and after the change: it takes about half a minute.</p>
    ${failure && html`<p role="alert" class="error">${failure}</p>`}
    ${
      run &&
      html`<table class="verdicts">
        <caption>Verdicts, with the margin each stands on (planned in ${run.seconds} s)</caption>
        <thead>
          <tr><th scope="col"></th><th scope="col">At</th><th scope="col">GPUs online</th><th scope="col">Double 5-hour limits, lift peak</th><th scope="col">Margin</th><th scope="col">Raise API limits</th><th scope="col">Sustainable 5-hour ×</th></tr>
        </thead>
        <tbody>
          ${sides.map(
            ([label, side]) =>
              side &&
              html`<tr key=${label} data-side=${label.toLowerCase()}>
                <th scope="row">${label}</th>
                <td>${side.at.slice(0, 10)}</td>
                <td>${side.gpus_online.toLocaleString()}</td>
                <td class="verdict">${yesNo(side.verdicts.double_5h_lift_peak)}</td>
                <td>${times(side.margin.doubled_peak_lifted)}</td>
                <td>${yesNo(side.verdicts.raise_api)}</td>
                <td>${times(side.sustainable_5h_multiplier.value)}</td>
              </tr>`,
          )}
        </tbody>
      </table>
      <${ProposeForm} run=${run} />
      ${(
        [
          ["The week before", run.charts.week_before],
          ["The week after", run.charts.week_after],
          ["What moves the verdict (sensitivity)", run.charts.tornado],
        ] as const
      ).map(
        ([title, svg]) => html`<figure class="svg-chart" aria-label=${title} key=${title}>
          <figcaption>${title}</figcaption>
          <div dangerouslySetInnerHTML=${{ __html: svg }}></div>
        </figure>`,
      )}`
    }
  </section>`;
}

/** Propose the plan's policy as a draft, effective at a date the reviewer picks. */
function ProposeForm({ run }: { run: PlanRun }) {
  const [result, setResult] = useState<string | null>(null);
  const submit = async (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.target as HTMLFormElement);
    const effective = new Date(String(form.get("effective"))).toISOString().replace(".000Z", "Z");
    const version = String(form.get("version"));
    try {
      const draft = await api<PolicyDraft>("/policies/drafts", {
        method: "POST",
        body: {
          policy: { ...run.proposal.policy, version, effective_from: effective },
          notes: run.proposal.notes,
          source: run.proposal.source,
        },
      });
      setResult(`Proposed ${draft.id}: review it under Policies.`);
    } catch (problem) {
      setResult(String((problem as Error).message));
    }
  };
  return html`<form class="create" onSubmit=${submit} aria-label="Propose the plan's policy">
    <label for="effective">Propose this policy, effective</label>
    <input id="effective" name="effective" type="datetime-local" required />
    <label for="version">as version</label>
    <input id="version" name="version" value=${run.proposal.policy.version} required />
    <button type="submit">Propose</button>
    ${result && html`<p role="status" data-proposed>${result}</p>`}
  </form>`;
}

const VIEWS = {
  overview: "Overview",
  accounts: "Accounts and keys",
  policies: "Policies",
  fleet: "Fleet",
  planner: "Planner",
} as const;
type View = keyof typeof VIEWS;

function Dashboard(props: { onSignedOut: () => void }) {
  const [view, setView] = useState<View>("overview");
  const views: Record<View, () => unknown> = {
    overview: () => html`<${OverviewView} />`,
    accounts: () => html`<${AccountsView} />`,
    policies: () => html`<${PoliciesView} />`,
    fleet: () => html`<${FleetView} />`,
    planner: () => html`<${PlannerView} />`,
  };
  const current = views[view]();
  return html`<div class="shell">
    <header>
      <h1>headroom</h1>
      <nav aria-label="Views">
        ${(Object.keys(VIEWS) as View[]).map(
          (name) =>
            html`<button type="button" aria-current=${view === name ? "page" : undefined} onClick=${() => setView(name)}>
              ${VIEWS[name]}
            </button>`,
        )}
      </nav>
      <button type="button" class="signout" onClick=${() => {
        token.clear();
        props.onSignedOut();
      }}>Sign out</button>
    </header>
    <main>${current}</main>
  </div>`;
}

function App() {
  const [signedIn, setSignedIn] = useState(token.get() !== null);
  return signedIn
    ? html`<${Dashboard} onSignedOut=${() => setSignedIn(false)} />`
    : html`<${Login} onSignedIn=${() => setSignedIn(true)} />`;
}

render(html`<${App} />`, document.getElementById("app") as HTMLElement);
