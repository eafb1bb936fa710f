// The thinkstream chat page: asks /v1/jobs, follows the job's event stream and shows the
// reasoning as timed steps, the answer, its checks and its timings. When the gateway has API
// keys, every request carries the saved key (key.js), which the page asks for on a 401.
"use strict";

(() => {
  const EVENT_TYPES = ["queued", "started", "retry", "resumed", "reasoning", "answer", "check", "done", "error", "canceled"];
  const TICK_MS = 200;

  const $ = (id) => document.getElementById(id);
  const form = $("ask");
  const input = $("question");
  const sendButton = $("send");
  const stopButton = $("stop");
  const stopThinkingButton = $("stop-thinking");
  const conversation = $("conversation");
  const banner = $("banner");
  const emptyNote = $("empty");

  const turns = [];
  let active = null; // the turn whose job is in flight
  let ticker = null;
  let asked = 0; // numbers turns, for their elements' ids

  // Generation parameters may be set in the page's address, e.g. /?max_tokens=200&seed=1.
  function params() {
    const query = new URLSearchParams(location.search);
    const out = {};
    for (const [name, parse] of [
      ["max_tokens", parseInt],
      ["max_reasoning_tokens", parseInt],
      ["seed", parseInt],
      ["temperature", parseFloat],
    ]) {
      const value = parse(query.get(name) ?? "", 10);
      if (Number.isFinite(value)) out[name] = value;
    }
    return out;
  }

  function showBanner(message) {
    banner.textContent = message;
    banner.hidden = !message;
  }

  // ---------------------------------------------------------------------------------------
  // Following a job's stream.

  const LOST = "Connection lost, reconnecting…";
  const WAITING_FOR_KEY = "Waiting for an API key…";

  function follow(turn, url) {
    let sent = null; // the key the latest connection carried
    turn.stream = Streams.follow(url, turn.lastSeq, {
      headers: () => {
        sent = ApiKey.get();
        return ApiKey.header(sent);
      },
      open: () => {
        if (turn.notice === LOST || turn.notice === WAITING_FOR_KEY) turn.notice = null;
        schedule(turn);
      },
      event: (type, data) => {
        if (!EVENT_TYPES.includes(type)) return;
        if (Turns.apply(turn, JSON.parse(data))) finish(turn);
        schedule(turn);
      },
      dropped: () => {
        turn.notice = LOST;
        schedule(turn);
      },
      refused: (response) => {
        turn.stream = null;
        if (response.status === 401) {
          // Once there is a key, resume after the last event shown (unless cleared meanwhile).
          turn.notice = WAITING_FOR_KEY;
          ApiKey.refused(sent, () => {
            if (turns.includes(turn) && !turn.stream && !Turns.isOver(turn)) follow(turn, url);
          });
        } else {
          turn.error = "Lost the job's event stream: the gateway refused to reconnect. Ask again.";
          turn.phase = "failed";
          finish(turn);
        }
        schedule(turn);
      },
    });
  }

  function finish(turn) {
    if (turn.stream) turn.stream.close();
    turn.stream = null;
    if (active === turn) {
      active = null;
      setBusy(false);
    }
  }

  // ---------------------------------------------------------------------------------------
  // Asking, stopping, clearing.

  function history() {
    // Earlier turns go back as plain question/answer pairs: their reasoning is stripped, and
    // turns that failed or were stopped are left out.
    const messages = [];
    for (const turn of turns) {
      if (turn.phase === "done" && turn.answer.trim()) {
        messages.push({ role: "user", content: turn.question }, { role: "assistant", content: turn.answer });
      }
    }
    return messages;
  }

  async function ask(question) {
    showBanner("");
    const messages = [...history(), { role: "user", content: question }];
    const turn = Turns.create(question, ++asked);
    turn.view = View.build(turn);
    turns.push(turn);
    emptyNote.hidden = true;
    conversation.append(turn.view.root);
    active = turn;
    setBusy(true);
    schedule(turn);
    turn.view.root.scrollIntoView({ block: "end" });

    const key = ApiKey.get();
    let response;
    try {
      response = await fetch("/v1/jobs", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json", ...ApiKey.header(key) },
        body: JSON.stringify({ messages, ...params() }),
      });
    } catch {
      return rejected(turn, "Can't reach the gateway. Check that thinkstream is running, then send again.");
    }
    if (response.status === 401) {
      // The question goes back to the box and is sent again once a key is saved (unless edited).
      rejected(turn, "");
      ApiKey.refused(key, () => {
        if (!active && input.value.trim() === question) form.requestSubmit();
      });
      return;
    }
    if (!response.ok) return rejected(turn, await describeRefusal(response));
    const accepted = await response.json();
    turn.jobId = accepted.id;
    turn.position = accepted.queue_position;
    turn.phase = turn.phase === "sending" ? "queued" : turn.phase;
    follow(turn, accepted.events_url);
    if (turn.stopRequested) cancel(turn);
    schedule(turn);
  }

  // The job was never accepted: drop the turn and give the question back for another try.
  function rejected(turn, message) {
    turns.splice(turns.indexOf(turn), 1);
    turn.view.root.remove();
    emptyNote.hidden = turns.length > 0;
    if (active === turn) {
      active = null;
      setBusy(false);
    }
    if (!input.value.trim()) input.value = turn.question;
    autosize();
    showBanner(message);
  }

  function retryAfter(response) {
    const header = response.headers.get("Retry-After");
    if (!header) return null;
    const delay = /^\d+$/.test(header.trim()) ? parseInt(header, 10) : (Date.parse(header) - Date.now()) / 1000;
    return Number.isFinite(delay) ? Math.max(Math.ceil(delay), 1) : null;
  }

  async function describeRefusal(response) {
    let detail = "";
    try {
      detail = (await response.json()).error?.message ?? "";
    } catch {
      detail = "";
    }
    const wait = retryAfter(response);
    const when = wait ? `Try again in ${View.plural(wait, "second")}.` : "Try again in a moment.";
    switch (response.status) {
      case 429:
        return `The queue is full: too many questions are waiting. ${when}`;
      case 503:
        return `The gateway can't take questions right now${detail ? ` (${detail})` : ""}. ${when}`;
      case 413:
        return `The conversation is too long for the model: ${detail.replace(/\.?$/, ".")} Clear the conversation or shorten the question.`;
      case 422:
        return `The gateway refused the question: ${detail}`;
      default:
        return `The gateway answered ${response.status}${detail ? `: ${detail}` : ""}.`;
    }
  }

  // "Stop thinking": the job closes its reasoning at its next token and answers. A 409 means
  // the reasoning ended meanwhile (the model closed it, or the job finished): nothing to do.
  async function endReasoning(turn) {
    if (!turn.jobId || turn.endRequested) return;
    turn.endRequested = true;
    schedule(turn);
    const key = ApiKey.get();
    let response;
    try {
      response = await fetch(`/v1/jobs/${turn.jobId}/control`, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json", ...ApiKey.header(key) },
        body: JSON.stringify({ action: "end_reasoning" }),
      });
    } catch {
      turn.endRequested = false;
      showBanner("Can't reach the gateway to stop the thinking.");
      schedule(turn);
      return;
    }
    if (response.status === 401) {
      turn.endRequested = false;
      ApiKey.refused(key, () => {
        if (turn.phase === "thinking") endReasoning(turn);
      });
    } else if (!response.ok && response.status !== 409) {
      turn.endRequested = false;
      showBanner(`Couldn't stop the thinking: ${await describeRefusal(response)}`);
    }
    schedule(turn);
  }

  async function cancel(turn) {
    turn.stopRequested = true;
    schedule(turn);
    if (!turn.jobId) return; // ask() cancels as soon as the job has an id
    const key = ApiKey.get();
    let response;
    try {
      response = await fetch(`/v1/jobs/${turn.jobId}`, { method: "DELETE", headers: ApiKey.header(key) });
    } catch {
      showBanner("Can't reach the gateway to stop the job.");
      return;
    }
    if (response.status === 401) {
      ApiKey.refused(key, () => {
        if (!Turns.isOver(turn)) cancel(turn); // also a turn cleared meanwhile: its job still runs
      });
      return;
    }
    if (!response.ok) showBanner(`Couldn't stop the job: ${await describeRefusal(response)}`);
  }

  function clearConversation() {
    if (active) cancel(active);
    for (const turn of turns) {
      if (turn.stream) turn.stream.close();
      turn.stream = null;
      cancelAnimationFrame(turn.frame);
    }
    turns.length = 0;
    active = null;
    setBusy(false);
    conversation.replaceChildren(emptyNote);
    emptyNote.hidden = false;
    showBanner("");
    input.focus();
  }

  // "Stop thinking" is offered only while the job reasons (not while it waits, nor once it answers).
  function showControls(turn) {
    stopThinkingButton.hidden = turn.phase !== "thinking" || turn.stopRequested;
    stopThinkingButton.disabled = turn.endRequested;
  }

  function setBusy(busy) {
    sendButton.hidden = busy;
    stopButton.hidden = !busy;
    stopButton.disabled = false;
    if (!busy) stopThinkingButton.hidden = true;
    if (busy && !ticker) {
      ticker = setInterval(() => active && schedule(active), TICK_MS);
    } else if (!busy && ticker) {
      clearInterval(ticker);
      ticker = null;
    }
  }

  // ---------------------------------------------------------------------------------------
  // Rendering, at most once per frame per turn.

  function schedule(turn) {
    if (turn.frame) return;
    turn.frame = requestAnimationFrame(() => {
      turn.frame = 0;
      const stick = nearBottom();
      View.render(turn);
      if (turn === active) showControls(turn);
      if (stick && turn === turns[turns.length - 1]) window.scrollTo(0, document.body.scrollHeight);
    });
  }

  function nearBottom() {
    return window.innerHeight + window.scrollY >= document.body.scrollHeight - 80;
  }

  // ---------------------------------------------------------------------------------------
  // Wiring.

  function autosize() {
    input.style.height = "auto";
    input.style.height = `${Math.min(input.scrollHeight, 240)}px`;
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const question = input.value.trim();
    if (!question || active) return;
    input.value = "";
    autosize();
    ask(question);
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  input.addEventListener("input", autosize);
  stopButton.addEventListener("click", () => {
    if (!active) return;
    stopButton.disabled = true;
    cancel(active);
  });
  stopThinkingButton.addEventListener("click", () => {
    if (active) endReasoning(active);
  });
  $("clear").addEventListener("click", clearConversation);
  ApiKey.setup(() => input.focus());
  input.focus();
})();
