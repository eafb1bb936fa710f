// One question and everything its job sent back, folded from the job's event stream. No DOM here.
"use strict";

const Turns = (() => {
  const FINAL = new Set(["done", "error", "canceled"]);
  const OVER = new Set(["done", "failed", "canceled"]);

  function create(question, number) {
    return {
      question,
      number,
      phase: "sending", // sending, queued, thinking, answering, done, failed, canceled
      jobId: null,
      stream: null,
      lastSeq: 0,
      position: null,
      startsAt: null, // when a worker is expected to start the job (performance.now() seconds)
      submittedAt: performance.now(),
      queuedTs: null,
      startedTs: null,
      attempt: 1,
      reasoning: "",
      events: [], // the reasoning events: {at, len, tokens, ts}
      reasoningTokens: 0,
      answer: "",
      answerTokens: 0,
      firstTokens: 0, // how many tokens the first event carried
      firstAnswerTs: null,
      lastTokenTs: null,
      firstTokenTs: null,
      report: null,
      result: null,
      error: null,
      notice: null,
      stopRequested: false,
      endRequested: false, // "Stop thinking" was pressed
      highlight: null, // {field, start, end}
      collapsedOnce: false,
      frame: 0,
    };
  }

  // Fold one stream event into the turn; true when it was the job's last.
  function apply(turn, event) {
    if (event.seq <= turn.lastSeq) return false; // a reconnect may repeat what we have
    turn.lastSeq = event.seq;
    switch (event.type) {
      case "queued":
        // The first says where the job stood when accepted; updates follow while it waits, with
        // the seconds until a worker is expected to start it, counted down from their arrival.
        turn.phase = "queued";
        turn.position = event.position;
        turn.startsAt = Number.isFinite(event.eta_s) ? performance.now() / 1000 + event.eta_s : null;
        turn.queuedTs ??= event.ts;
        break;
      case "started":
        turn.phase = "thinking";
        turn.startedTs = event.ts;
        turn.startsAt = null;
        turn.attempt = event.attempt;
        turn.notice = null;
        break;
      // A job whose worker was lost goes on where its stream stopped, on another worker: the
      // text shown stands and the rest is appended to it.
      case "retry":
        turn.notice = `The worker stopped responding; waiting for another to go on from here (attempt ${event.attempt})`;
        break;
      case "resumed":
        // While it waited for another worker, queue updates may have shown it as queued again.
        turn.attempt = event.attempt;
        turn.startedTs ??= event.ts;
        turn.startsAt = null;
        if (turn.phase === "queued") turn.phase = turn.answer ? "answering" : "thinking";
        turn.notice = `Going on from where it stopped on another worker (attempt ${event.attempt}, ${event.tokens_kept} tokens kept)`;
        break;
      case "reasoning":
        turn.events.push({ at: turn.reasoning.length, len: event.text.length, tokens: tokensOf(event), ts: event.ts });
        turn.reasoning += event.text;
        turn.reasoningTokens += tokensOf(event);
        noteTokens(turn, event);
        break;
      case "answer":
        turn.answer += event.text;
        turn.answerTokens += tokensOf(event);
        noteTokens(turn, event);
        turn.firstAnswerTs ??= event.ts;
        turn.phase = "answering";
        break;
      case "check":
        turn.report = event.report;
        break;
      case "done":
        turn.result = event.result;
        turn.phase = "done";
        break;
      case "error":
        turn.error = `The job failed: ${event.message}`;
        turn.phase = "failed";
        break;
      case "canceled":
        turn.phase = "canceled";
        break;
    }
    return FINAL.has(event.type);
  }

  // A worker sends a few tokens per event and says how many.
  function tokensOf(event) {
    return Number.isInteger(event.tokens) ? event.tokens : 1;
  }

  function noteTokens(turn, event) {
    if (turn.firstTokenTs === null) {
      turn.firstTokenTs = event.ts;
      turn.firstTokens = tokensOf(event);
    }
    turn.lastTokenTs = event.ts;
  }

  // From the first reasoning event to the last, on the server's clock (the browser's may differ).
  function reasoningSeconds(turn) {
    if (turn.result && turn.result.timings.reasoning_ms) return turn.result.timings.reasoning_ms / 1000;
    const events = turn.events;
    if (!events.length) return 0;
    return Math.max(events[events.length - 1].ts - events[0].ts, 0);
  }

  // Tokens the reasoning used whose text never arrived (held-back whitespace at its end).
  function unsentReasoningTokens(turn) {
    return turn.result ? Math.max(turn.result.usage.reasoning_tokens - turn.reasoningTokens, 0) : 0;
  }

  const isOver = (turn) => OVER.has(turn.phase);

  return { create, apply, isOver, reasoningSeconds, unsentReasoningTokens };
})();
