// Turning model text into DOM without ever parsing it as HTML.
//
// Every piece of model or user text reaches the page through `appendText`, which creates text
// nodes (so `<img src=x onerror=...>` stays seven visible words). Each text node is a verbatim
// slice of the source, so a character span from a check can be highlighted exactly.
"use strict";

const Render = (() => {
  // Append `text` (which starts at `offset` in the source) to `parent`, wrapping the part that
  // falls inside `mark` ({start, end}, source offsets) in a <mark>.
  function appendText(parent, text, offset, mark) {
    if (!text) return;
    const end = offset + text.length;
    if (!mark || mark.end <= offset || mark.start >= end) {
      parent.append(document.createTextNode(text));
      return;
    }
    const from = Math.max(mark.start - offset, 0);
    const to = Math.min(mark.end - offset, text.length);
    if (from > 0) parent.append(document.createTextNode(text.slice(0, from)));
    const marked = document.createElement("mark");
    marked.className = "span-highlight";
    // A zero-width span (a position) still needs something to point at.
    marked.textContent = to > from ? text.slice(from, to) : "\u200b";
    parent.append(marked);
    if (to < text.length) parent.append(document.createTextNode(text.slice(to)));
  }

  const INLINE = /`([^`\n]+)`|\*\*([^*\n]+)\*\*/g;

  // Inline code and bold; everything else is plain text.
  function appendInline(parent, text, offset, mark) {
    let last = 0;
    for (const match of text.matchAll(INLINE)) {
      appendText(parent, text.slice(last, match.index), offset + last, mark);
      const isCode = match[1] !== undefined;
      const element = document.createElement(isCode ? "code" : "strong");
      const delimiter = isCode ? 1 : 2;
      appendText(element, isCode ? match[1] : match[2], offset + match.index + delimiter, mark);
      parent.append(element);
      last = match.index + match[0].length;
    }
    appendText(parent, text.slice(last), offset + last, mark);
  }

  function lines(text) {
    const out = [];
    let start = 0;
    for (const line of text.split("\n")) {
      out.push({ text: line, start });
      start += line.length + 1;
    }
    return out;
  }

  const FENCE = /^\s*(```|~~~)/;
  const ITEM = /^(\s*)([-*+•]|\d{1,3}[.)])\s+/;
  const HEADING = /^(#{1,6})\s+/;

  // A readable subset of Markdown: paragraphs (single newlines kept), bullet and numbered lists,
  // headings, fenced code blocks (an unclosed one runs to the end, as while streaming) and
  // inline code and bold.
  function markdown(container, text, mark) {
    container.replaceChildren();
    const all = lines(text);
    let paragraph = null;
    let list = null;
    let item = null;
    const close = () => {
      paragraph = null;
      list = null;
      item = null;
    };
    for (let i = 0; i < all.length; i++) {
      const line = all[i];
      if (FENCE.test(line.text)) {
        close();
        const fence = line.text.trim().slice(0, 3);
        let j = i + 1;
        while (j < all.length && !all[j].text.trim().startsWith(fence)) j++;
        const pre = document.createElement("pre");
        const code = document.createElement("code");
        if (j > i + 1) {
          const first = all[i + 1].start;
          const last = all[j - 1].start + all[j - 1].text.length;
          appendText(code, text.slice(first, last), first, mark);
        }
        pre.append(code);
        container.append(pre);
        i = j;
        continue;
      }
      if (!line.text.trim()) {
        close();
        continue;
      }
      const heading = HEADING.exec(line.text);
      if (heading) {
        close();
        const element = document.createElement(heading[1].length <= 2 ? "h3" : "h4");
        appendInline(element, line.text.slice(heading[0].length), line.start + heading[0].length, mark);
        container.append(element);
        continue;
      }
      const bullet = ITEM.exec(line.text);
      if (bullet) {
        const ordered = /\d/.test(bullet[2]);
        const tag = ordered ? "OL" : "UL";
        if (!list || list.tagName !== tag) {
          paragraph = null;
          list = document.createElement(tag);
          if (ordered && parseInt(bullet[2], 10) !== 1) list.start = parseInt(bullet[2], 10);
          container.append(list);
        }
        item = document.createElement("li");
        appendInline(item, line.text.slice(bullet[0].length), line.start + bullet[0].length, mark);
        list.append(item);
        continue;
      }
      if (item && /^\s/.test(line.text)) {
        // An indented line continues the list item above it.
        item.append(document.createElement("br"));
        appendInline(item, line.text, line.start, mark);
        continue;
      }
      list = null;
      item = null;
      if (paragraph) {
        paragraph.append(document.createElement("br"));
      } else {
        paragraph = document.createElement("p");
        container.append(paragraph);
      }
      appendInline(paragraph, line.text, line.start, mark);
    }
  }

  return { appendText, markdown };
})();
