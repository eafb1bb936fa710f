// Drawing a turn. Model and user text only ever become text nodes (see render.js).
"use strict";

const View = (() => {
  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function button(label, className, onClick) {
    const node = el("button", className, label);
    node.type = "button";
    node.addEventListener("click", onClick);
    return node;
  }

  const seconds = (s) => `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  const ms = (value) => seconds(value / 1000);
  const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

  function build(turn) {
    const root = el("section", "turn");
    const user = el("div", "msg user");
    user.append(el("p", "user-text", turn.question));

    const bot = el("div", "msg assistant");
    const status = el("p", "status");
    const reasoning = el("details", "reasoning");
    reasoning.open = true;
    const summary = el("summary");
    const summaryText = el("span", "summary-text", "Thinking");
    summary.append(el("span", "pulse"), summaryText);
    const steps = el("ol", "steps");
    reasoning.append(summary, steps);
    reasoning.hidden = true;

    const answerHead = el("div", "answer-head");
    const answer = el("div", "answer");
    const findings = el("ul", "findings");
    const error = el("p", "error");
    error.setAttribute("role", "alert");
    error.hidden = true;

    const foot = el("div", "foot");
    const timings = el("p", "timings");
    const actions = el("div", "actions");
    const copyAnswer = button("Copy answer", "quiet copy-answer", () => copy(copyAnswer, turn.answer));
    const copyReasoning = button("Copy reasoning", "quiet copy-reasoning", () => copy(copyReasoning, turn.reasoning));
    actions.append(copyAnswer, copyReasoning);
    actions.hidden = true;
    foot.append(timings, actions);

    bot.append(status, reasoning, answerHead, answer, findings, error, foot);
    root.append(user, bot);
    return { root, status, reasoning, summaryText, steps, answerHead, answer, findings, error, timings, actions, copyReasoning, stepItems: [] };
  }

  async function copy(source, text) {
    let ok = true;
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      // navigator.clipboard needs a secure context; an intranet page over plain http has none.
      const area = el("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.className = "offscreen";
      document.body.append(area);
      area.select();
      ok = document.execCommand("copy");
      area.remove();
    }
    const label = source.textContent;
    source.textContent = ok ? "Copied" : "Copy failed";
    setTimeout(() => (source.textContent = label), 1500);
  }

  function render(turn) {
    const v = turn.view;
    const thinking = turn.phase === "thinking";
    v.root.dataset.phase = turn.phase;
    v.status.textContent = statusLine(turn);
    v.status.hidden = !v.status.textContent;

    // The reasoning panel: open while the model thinks, folded to one line once it answers.
    const hasReasoning = turn.reasoning.trim().length > 0;
    v.reasoning.hidden = !hasReasoning && !thinking;
    v.reasoning.classList.toggle("thinking", thinking);
    if (!thinking && hasReasoning && !turn.collapsedOnce) {
      turn.collapsedOnce = true;
      v.reasoning.open = false;
    }
    v.summaryText.textContent = reasoningSummary(turn);
    const steps = Steps.measure(Steps.split(turn.reasoning), turn.events, Turns.unsentReasoningTokens(turn));
    renderSteps(turn, steps);

    const mark = (field) => (turn.highlight?.field === field ? turn.highlight : null);
    if (turn.answer !== v.renderedAnswer || turn.highlight !== v.renderedHighlight) {
      Render.markdown(v.answer, turn.answer, mark("answer"));
      v.renderedAnswer = turn.answer;
      v.renderedHighlight = turn.highlight;
    }
    v.answer.hidden = !turn.answer;
    renderChecks(turn, steps);

    v.error.textContent = turn.error ?? "";
    v.error.hidden = !turn.error;
    const timings = timingParts(turn);
    if (timings.join() !== v.renderedTimings) {
      v.renderedTimings = timings.join();
      v.timings.replaceChildren(...timings.flatMap((part, i) => [...(i ? [" · "] : []), el("span", "nowrap", part)]));
    }
    v.actions.hidden = !Turns.isOver(turn) || !(turn.answer || turn.reasoning);
    v.copyReasoning.hidden = !turn.reasoning;
  }

  function statusLine(turn) {
    if (!Turns.isOver(turn)) {
      if (turn.notice) return turn.notice;
      if (turn.stopRequested) return "Stopping…";
      if (turn.endRequested && turn.phase === "thinking") return "Ending the reasoning; the answer follows…";
    }
    const waited = (performance.now() - turn.submittedAt) / 1000;
    switch (turn.phase) {
      case "sending":
        return "Sending…";
      case "queued": {
        const ahead = turn.position ? `${plural(turn.position, "question")} ahead` : "next in line";
        return `Waiting in the queue · ${ahead}${startsIn(turn)} · ${seconds(waited)}`;
      }
      case "canceled":
        return "Stopped.";
      default:
        return "";
    }
  }

  // The countdown to the expected start; an estimate that ran out says so rather than showing 0.
  function startsIn(turn) {
    if (turn.startsAt === null) return "";
    const left = turn.startsAt - performance.now() / 1000;
    return left >= 1 ? ` · starts in about ${Math.ceil(left)} s` : " · starting any moment";
  }

  function reasoningSummary(turn) {
    const count = plural(turn.reasoningTokens + Turns.unsentReasoningTokens(turn), "token");
    if (turn.phase === "thinking") return `Thinking · ${seconds(Turns.reasoningSeconds(turn))} · ${count}`;
    let text = `Thought for ${seconds(Turns.reasoningSeconds(turn))} · ${count}`;
    const end = turn.result?.reasoning_end;
    if (end === "budget") text += " · stopped at the reasoning budget";
    else if (end === "requested") text += " · stopped when you asked";
    else if (end === "length") text += " · cut off at the token limit";
    else if (turn.phase === "canceled" && !turn.answer) text += " · stopped";
    return text;
  }

  function renderSteps(turn, steps) {
    const v = turn.view;
    const flagged = findingsByStep(turn, steps);
    const mark = turn.highlight?.field === "reasoning" ? turn.highlight : null;
    const slowest = Math.max(...steps.map((s) => s.seconds), 0.001);
    steps.forEach((step, i) => {
      const severity = flagged.get(i) ?? "";
      const markHere = markInStep(mark, steps, i);
      const key = [step.start, step.end, step.tokens, step.seconds.toFixed(1), slowest.toFixed(1), severity, markHere?.start, markHere?.end].join();
      let item = v.stepItems[i];
      if (item && item.key === key) return;
      if (!item) {
        item = { node: el("li", "step") };
        item.node.id = `turn-${turn.number}-step-${i + 1}`;
        v.steps.append(item.node);
        v.stepItems.push(item);
      }
      item.key = key;
      const body = el("div", "step-text");
      Render.appendText(body, turn.reasoning.slice(step.start, step.end), step.start, markHere);
      const bar = el("span", "step-bar");
      const fill = el("span");
      fill.style.width = `${Math.max((step.seconds / slowest) * 100, 2)}%`;
      bar.append(fill);
      const meta = el("div", "step-meta", `${plural(step.tokens, "token")} · ${seconds(step.seconds)}`);
      meta.append(bar);
      item.node.className = `step${severity ? ` flagged sev-${severity}` : ""}`;
      item.node.replaceChildren(el("span", "step-number", String(i + 1)), body, meta);
    });
    while (v.stepItems.length > steps.length) v.stepItems.pop().node.remove();
  }

  // The part of a reasoning span to mark in step i. A span that falls only on the whitespace
  // trimmed off a step is pulled onto its nearest visible character, so there is always a mark.
  function markInStep(mark, steps, i) {
    if (!mark) return null;
    const step = steps[i];
    if (mark.start < step.end && mark.end > step.start) return mark;
    if (Steps.indexOf(steps, mark.start) !== i) return null;
    const start = Math.min(Math.max(mark.start, step.start), step.end - 1);
    return { start, end: start + 1 };
  }

  // Step index → the worst severity of the findings that point into it.
  function findingsByStep(turn, steps) {
    const rank = { error: 3, warning: 2, info: 1 };
    const out = new Map();
    for (const finding of turn.report?.findings ?? []) {
      if (finding.span?.field !== "reasoning" || !steps.length) continue;
      const index = Steps.indexOf(steps, finding.span.start);
      const worst = out.get(index);
      if (!worst || rank[finding.severity] > rank[worst]) out.set(index, finding.severity);
    }
    return out;
  }

  const VERDICTS = {
    pass: ["✓ Checks passed", "pass"],
    fail: ["✗ Checks failed", "fail"],
    unsure: ["? Not verified", "unsure"],
  };

  function renderChecks(turn, steps) {
    const v = turn.view;
    const report = turn.report;
    const key = report ? `${turn.report.findings.length}|${steps.length}|${turn.highlight?.start}|${turn.highlight?.field}` : "";
    if (v.renderedChecks === key) return;
    v.renderedChecks = key;
    v.answerHead.replaceChildren();
    v.findings.replaceChildren();
    if (!report) return;
    const [label, kind] = VERDICTS[report.verdict] ?? [report.verdict, "unsure"];
    const badge = el("span", `badge verdict-${kind}`, label);
    if (report.checks_run?.length) badge.title = `Checks run: ${report.checks_run.join(", ")}`;
    v.answerHead.append(badge);
    for (const finding of report.findings) {
      const item = el("li", `finding sev-${finding.severity}`);
      item.append(el("span", "severity", finding.severity), el("span", "finding-message", finding.message));
      if (finding.span) {
        const where =
          finding.span.field === "reasoning" && steps.length
            ? `step ${Steps.indexOf(steps, finding.span.start) + 1}`
            : finding.span.field;
        const link = button(`Show in ${where}`, "link", () => showFinding(turn, finding));
        if (turn.highlight === finding.span) link.classList.add("current");
        item.append(link);
      }
      v.findings.append(item);
    }
  }

  function showFinding(turn, finding) {
    turn.highlight = finding.span;
    if (finding.span.field === "reasoning") turn.view.reasoning.open = true;
    render(turn);
    const target = turn.view.root.querySelector("mark.span-highlight");
    const step = target?.closest(".step") ?? target ?? turn.view.answer;
    step.scrollIntoView({ block: "center", behavior: "smooth" });
    step.classList.remove("flash");
    void step.offsetWidth; // restart the animation
    step.classList.add("flash");
  }

  function timingParts(turn) {
    const parts = [];
    const timings = turn.result?.timings;
    if (timings) {
      parts.push(`Queue ${ms(timings.queued_ms)}`, `First token ${ms(timings.ttft_ms)}`, `Total ${ms(timings.total_ms)}`);
      parts.push(`${timings.tokens_per_s.toFixed(1)} tokens/s`);
      return parts;
    }
    if (turn.queuedTs !== null && turn.startedTs !== null) parts.push(`Queue ${seconds(turn.startedTs - turn.queuedTs)}`);
    if (turn.queuedTs !== null && turn.firstTokenTs !== null) parts.push(`First token ${seconds(turn.firstTokenTs - turn.queuedTs)}`);
    if (Turns.isOver(turn)) {
      const how = turn.phase === "canceled" ? "Stopped" : "Ended";
      if (turn.queuedTs !== null && turn.lastTokenTs !== null) parts.push(`${how} after ${seconds(turn.lastTokenTs - turn.queuedTs)}`);
    } else if (turn.startedTs !== null) {
      parts.push(`${seconds((performance.now() - turn.submittedAt) / 1000)} so far`);
      const generated = turn.reasoningTokens + turn.answerTokens - turn.firstTokens;
      if (generated > 0 && turn.lastTokenTs > turn.firstTokenTs) {
        parts.push(`${(generated / (turn.lastTokenTs - turn.firstTokenTs)).toFixed(1)} tokens/s`);
      }
    }
    return parts;
  }

  return { plural, build, render };
})();
