// Splitting the reasoning into steps and measuring where the time went.
"use strict";

const Steps = (() => {
  // A new step starts after a blank line, at a numbered line ("2.", "3)", "Step 4:"), and where
  // the model turns ("Wait,", "But wait,", "Alternatively,", "Hmm,": R1-style models change their
  // mind with these, and a reader wants to see where).
  const PARAGRAPH = /\n[ \t]*\n\s*/g;
  const NUMBERED = /(^|\n)[ \t]*(?:\d{1,3}[.):]|step\s+\d{1,3}\b[.:]?)[ \t]+(?=\S)/gi;
  const TURN = /(^|[.!?…]["'”’)\]]*[ \t]+|\n[ \t]*)(?=(?:Wait|But wait|Alternatively|Hmm),)/g;

  function boundaries(text) {
    const found = new Set([0]);
    for (const m of text.matchAll(PARAGRAPH)) found.add(m.index + m[0].length);
    for (const m of text.matchAll(NUMBERED)) found.add(m.index + m[1].length);
    for (const m of text.matchAll(TURN)) found.add(m.index + m[0].length);
    found.add(text.length);
    return [...found].sort((a, b) => a - b);
  }

  // Contiguous ranges [from, to) covering the whole text (so every token lands in exactly one
  // step), each with the trimmed [start, end) that is shown. Whitespace-only pieces join the next.
  function split(text) {
    const cuts = boundaries(text);
    const steps = [];
    let from = 0;
    for (let i = 1; i < cuts.length; i++) {
      const to = cuts[i];
      const piece = text.slice(from, to);
      if (!piece.trim() && i < cuts.length - 1) continue;
      const lead = piece.length - piece.trimStart().length;
      const trail = piece.length - piece.trimEnd().length;
      if (piece.trim()) {
        steps.push({ from, to, start: from + lead, end: to - trail });
      } else if (steps.length) {
        steps[steps.length - 1].to = to;
      }
      from = to;
    }
    return steps;
  }

  // `events` are the reasoning events in order: {at: offset of their first character, len, tokens,
  // ts: epoch s}. A worker sends a few tokens per event, so an event that straddles a step
  // boundary shares its tokens by characters; counting cumulatively keeps the steps' sum exact.
  // `extra` tokens (generated but never sent as text, e.g. trailing whitespace) go to the last step.
  // A step's seconds run from the event that finished the step before it to the one that finished
  // it, so the steps add up to the reasoning time (prompt evaluation is the time to first token).
  function measure(steps, events, extra = 0) {
    const before = [];
    let total = 0;
    for (const event of events) {
      before.push(total);
      total += event.tokens;
    }
    let k = 0;
    const tokensUpTo = (offset) => {
      while (k < events.length && events[k].at + events[k].len <= offset) k++;
      if (k === events.length) return total;
      const event = events[k];
      return before[k] + (offset <= event.at ? 0 : (event.tokens * (offset - event.at)) / event.len);
    };
    let j = 0;
    const finishedAt = (offset) => {
      while (j < events.length - 1 && events[j].at + events[j].len < offset) j++;
      return events.length ? events[j].ts : 0;
    };
    let counted = 0;
    let previousTs = events.length ? events[0].ts : 0;
    steps.forEach((step, i) => {
      const upTo = Math.round(tokensUpTo(step.to));
      step.tokens = upTo - counted + (i === steps.length - 1 ? extra : 0);
      counted = upTo;
      const ts = finishedAt(step.to);
      step.seconds = Math.max(ts - previousTs, 0);
      previousTs = ts;
    });
    return steps;
  }

  function indexOf(steps, offset) {
    const found = steps.findIndex((step) => offset < step.to);
    return found === -1 ? steps.length - 1 : found;
  }

  return { split, measure, indexOf };
})();
