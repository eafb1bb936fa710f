// The operators' page: polls GET /v1/status and shows the workers, the queues and the last 15
// minutes. Worker ids and model names come from the workers' heartbeats: like model text on the
// main page, they only ever become text nodes. With API keys, the data is for operators' keys
// only (THINKSTREAM_OPERATOR_KEYS); the page asks for a key as the main page does (key.js).
"use strict";

(() => {
  const POLL_MS = 2000;
  const MAX_SLOT_BOXES = 8;
  // A hole longer than this many sample intervals breaks the plot's line (a lease changing hands
  // leaves up to about four).
  const GAP_INTERVALS = 6;
  const NOT_OPERATOR =
    "This API key may not read the cluster's status: it is not an operator's key. Enter an operator's key (the gateway's operator lists their names in THINKSTREAM_OPERATOR_KEYS).";

  const $ = (id) => document.getElementById(id);
  const banner = $("banner");
  const main = $("overview");
  let timer = null;
  let inFlight = false;
  let waitingForKey = false;
  let forbiddenKey = null; // the key last refused with 403: closing the form without changing it polls no more

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function showBanner(message) {
    banner.textContent = message;
    banner.hidden = !message;
  }

  const rate = (value) => (value === null || value === undefined ? "–" : Plot.label(value));
  const count = (value) => String(value);

  // ---------------------------------------------------------------------------------------
  // Fetching.

  function schedule(delay = POLL_MS) {
    clearTimeout(timer);
    timer = setTimeout(poll, delay);
  }

  async function poll() {
    clearTimeout(timer);
    if (inFlight) return;
    if (document.hidden) return schedule(); // nobody is looking: ask again later
    inFlight = true;
    try {
      await fetchStatus();
    } finally {
      inFlight = false;
    }
  }

  async function fetchStatus() {
    const key = ApiKey.get();
    let response;
    try {
      response = await fetch("/v1/status", {
        headers: { Accept: "application/json", ...ApiKey.header(key) },
        cache: "no-store",
      });
    } catch {
      showBanner("Can't reach the gateway. The figures below are from the last answer; trying again.");
      return schedule();
    }
    if (response.status === 401) {
      waitingForKey = true;
      ApiKey.refused(key, () => {
        waitingForKey = false;
        poll();
      });
      return;
    }
    if (response.status === 403) {
      waitingForKey = true;
      forbiddenKey = key;
      showBanner("The saved API key is not an operator's key: the status is not shown.");
      ApiKey.ask(NOT_OPERATOR);
      return;
    }
    if (!response.ok) {
      let detail = "";
      try {
        detail = (await response.json()).error?.message ?? "";
      } catch {
        detail = "";
      }
      showBanner(`The gateway answered ${response.status}${detail ? `: ${detail}` : ""}. Trying again.`);
      return schedule();
    }
    waitingForKey = false;
    forbiddenKey = null;
    try {
      render(await response.json());
      showBanner("");
    } catch (error) {
      console.error(error); // a bug in this page: the browser tests fail on it
      showBanner(`The gateway's answer could not be shown (${error}). Trying again.`);
    }
    schedule();
  }

  // ---------------------------------------------------------------------------------------
  // Drawing.

  function slotsCell(busy, slots) {
    const cell = el("td", "slots");
    cell.dataset.busy = String(busy);
    cell.dataset.slots = String(slots);
    const meter = el("span", "slot-meter");
    meter.setAttribute("aria-hidden", "true");
    if (slots <= MAX_SLOT_BOXES) {
      for (let i = 0; i < slots; i++) meter.append(el("span", i < busy ? "slot busy" : "slot"));
    } else {
      const bar = el("span", "slot-bar");
      const fill = el("span", "slot-fill");
      fill.style.width = `${Math.round((100 * busy) / Math.max(slots, 1))}%`; // CSSOM: allowed by the CSP
      bar.append(fill);
      meter.append(bar);
    }
    cell.append(meter, el("span", "slot-text", `${busy} / ${slots}`));
    return cell;
  }

  function numberCell(text) {
    return el("td", "num", text);
  }

  function renderQueues(report) {
    const rows = report.models.map((model) => {
      const row = el("tr");
      row.dataset.model = model.name;
      const name = el("th", "name", model.name);
      name.scope = "row";
      const byPriority = model.waiting_by_priority;
      row.append(
        name,
        numberCell(count(byPriority.high ?? 0)),
        numberCell(count(byPriority.normal ?? 0)),
        numberCell(count(byPriority.low ?? 0)),
        numberCell(count(model.waiting)),
        numberCell(count(model.running)),
        numberCell(count(model.workers)),
        slotsCell(model.busy, model.slots),
        numberCell(rate(model.workers ? model.tokens_per_s : null)),
      );
      row.cells[4].classList.add("waiting");
      return row;
    });
    $("queues").tBodies[0].replaceChildren(...rows);
    const checkers = report.checkers === 1 ? "1 checker" : `${report.checkers} checkers`;
    $("checks").textContent = `Answers waiting for their checks: ${report.checks_waiting} · ${checkers} alive.`;
  }

  function renderWorkers(report) {
    const rows = report.workers.map((worker) => {
      const row = el("tr");
      row.dataset.worker = worker.id;
      row.classList.toggle("busy", worker.busy > 0);
      const id = el("th", "name mono", worker.id);
      id.scope = "row";
      const model = el("td", "name", worker.model);
      if (worker.adapter) model.append(el("span", "adapter", ` + ${worker.adapter}`));
      row.append(
        id,
        model,
        slotsCell(worker.busy, worker.slots),
        numberCell(rate(worker.tokens_per_s)),
        numberCell(count(worker.jobs_done)),
        numberCell(count(worker.own_queue)),
        numberCell(`${worker.beat_age_s.toFixed(1)} s ago`),
      );
      row.cells[3].classList.add("rate");
      return row;
    });
    $("workers").tBodies[0].replaceChildren(...rows);
    $("no-workers").hidden = report.workers.length > 0;
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    if (seconds < 60) return `${seconds.toFixed(1)} s`;
    const minutes = Math.floor(seconds / 60);
    return minutes < 60 ? `${minutes} min ${Math.round(seconds % 60)} s` : `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
  }

  function renderJobs(report) {
    const rows = report.jobs.map((job) => {
      const row = el("tr");
      row.dataset.job = job.id;
      const id = el("th", "mono", job.id);
      id.scope = "row";
      const origin = job.attempt > 1 ? `${job.origin}, attempt ${job.attempt}` : job.origin;
      row.append(
        id,
        el("td", "name", job.model),
        el("td", "name mono", job.worker),
        el("td", "", job.priority),
        el("td", "", origin),
        el("td", "name", job.owner ?? "–"),
        numberCell(duration(job.running_s)),
      );
      return row;
    });
    $("jobs").tBodies[0].replaceChildren(...rows);
    $("no-jobs").hidden = report.jobs_running > 0;
    const unlisted = report.jobs_running - report.jobs.length;
    const more = $("more-jobs");
    more.hidden = unlisted <= 0;
    more.textContent = `${unlisted} more not listed (the longest-running are shown).`;
  }

  function renderTiles(report) {
    const rates = report.workers.map((w) => w.tokens_per_s).filter((v) => v !== null);
    $("now-throughput").textContent = rates.length ? Plot.label(rates.reduce((a, b) => a + b, 0)) : "–";
    $("now-running").textContent = count(report.jobs_running);
    $("now-waiting").textContent = count(report.models.reduce((sum, m) => sum + m.waiting, 0));
    const slots = report.workers.reduce((sum, w) => sum + w.slots, 0);
    const busy = report.workers.reduce((sum, w) => sum + w.busy, 0);
    $("now-slots").textContent = `${busy} / ${slots}`;
    $("now-checks").textContent = count(report.checks_waiting);
  }

  function renderHistory(report) {
    const spanS = report.history_s;
    $("history-span").textContent = String(Math.round(spanS / 60));
    const gapS = report.sample_interval_s * GAP_INTERVALS;
    const at = (sample) => sample.at - report.at;
    const throughput = report.history.map((s) => ({ t: at(s), v: s.tokens_per_s }));
    const queue = report.history.map((s) => ({ t: at(s), v: s.waiting }));
    Plot.draw($("plot-throughput"), throughput, spanS, {
      name: "Throughput", unit: "tokens/s", floor: 10, gapS, className: "throughput",
    });
    Plot.draw($("plot-queue"), queue, spanS, { name: "Queue depth", unit: "jobs", floor: 4, gapS, className: "queue" });
    const note = $("history-note");
    note.hidden = report.history.length > 0;
    note.textContent = `No samples yet: the first is taken within ${report.sample_interval_s} s.`;
  }

  let lastReport = null;

  function render(report) {
    lastReport = report;
    renderTiles(report);
    renderHistory(report);
    renderQueues(report);
    renderWorkers(report);
    renderJobs(report);
    main.setAttribute("aria-busy", "false");
    $("updated").textContent = `Updated ${new Date().toLocaleTimeString()}`;
  }

  // ---------------------------------------------------------------------------------------
  // Wiring.

  let resizing = 0;
  window.addEventListener("resize", () => {
    cancelAnimationFrame(resizing);
    resizing = requestAnimationFrame(() => lastReport && renderHistory(lastReport));
  });
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && !waitingForKey) poll();
  });
  ApiKey.setup(() => {
    // The form closed: with a new key (or none, when a key was refused), ask again.
    if (waitingForKey && ApiKey.get() !== forbiddenKey) poll();
  });
  poll();
})();
