// Following a job's Server-Sent Events with fetch. EventSource cannot send the API key, and a key
// in the address would end up in access logs. Like EventSource, it reconnects after a dropped
// connection and sends the id of the last event it saw as Last-Event-ID, so the gateway replays
// exactly the events that were missed.
"use strict";

const Streams = (() => {
  const FIRST_RETRY_MS = 1000;
  const MAX_RETRY_MS = 15000;
  // Answers worth another try later: a rate limit, or a gateway restarting behind a proxy.
  const TRANSIENT = new Set([429, 502, 503, 504]);

  // Follow the stream at `url`, resuming after the event whose id is `lastEventId` (if any).
  // `on` holds the callbacks:
  //   headers()          extra request headers, read at every connection (the key may change);
  //   open()             connected (again);
  //   event(type, data)  one event;
  //   dropped()          the connection was lost or ended early: reconnecting after a pause;
  //   refused(response)  the gateway answered with an error: no more reconnects.
  // The caller ends the stream with close() (on a job's last event); nothing is called after.
  function follow(url, lastEventId, on) {
    const abort = new AbortController();
    let closed = false;
    let lastId = lastEventId ? String(lastEventId) : "";

    async function run() {
      let failures = 0;
      while (!closed) {
        const headers = { Accept: "text/event-stream", ...on.headers() };
        if (lastId) headers["Last-Event-ID"] = lastId;
        let response = null;
        try {
          response = await fetch(url, { headers, cache: "no-store", signal: abort.signal });
        } catch {
          response = null; // the gateway can't be reached: try again below
        }
        if (closed) return;
        if (response?.ok && isEventStream(response)) {
          // Connected: the pauses grow only while the gateway can't be reached or is overloaded,
          // not across connections that a proxy cuts after a while.
          failures = 0;
          on.open();
          const events = parser(lastId, (type, data) => {
            if (!closed) on.event(type, data);
          });
          await read(response.body, events);
          lastId = events.lastId();
        } else if (response && !TRANSIENT.has(response.status)) {
          // Not an event stream (a proxy's page, say) counts as a refusal too, as in EventSource.
          on.refused(response);
          return;
        } else {
          response?.body?.cancel().catch(() => {}); // a transient error's text: not needed
        }
        if (closed) return;
        on.dropped();
        await sleep(delay(failures++, response), abort.signal);
      }
    }

    // Feeds the body to the parser until it ends or the connection is cut. Errors thrown by the
    // callbacks are bugs: they propagate rather than pass for a dropped connection.
    async function read(body, events) {
      const reader = body.getReader();
      const decoder = new TextDecoder();
      for (;;) {
        let chunk;
        try {
          chunk = await reader.read();
        } catch {
          return; // cut mid-stream, or closed
        }
        if (closed) return;
        if (chunk.done) break;
        events.push(decoder.decode(chunk.value, { stream: true }));
      }
      events.end();
    }

    function close() {
      closed = true;
      abort.abort();
    }

    run().catch((error) => {
      close();
      throw error;
    });
    return { close };
  }

  function isEventStream(response) {
    return (response.headers.get("Content-Type") ?? "").startsWith("text/event-stream");
  }

  // Doubling pauses up to a cap, at least what Retry-After asks, with some jitter so that the
  // pages of a restarted gateway do not all come back in the same instant.
  function delay(failures, response) {
    const backoff = Math.min(FIRST_RETRY_MS * 2 ** failures, MAX_RETRY_MS);
    const asked = parseInt(response?.headers.get("Retry-After") ?? "", 10) * 1000;
    return Math.max(backoff, Number.isFinite(asked) ? asked : 0) * (0.8 + Math.random() * 0.4);
  }

  function sleep(ms, signal) {
    return new Promise((resolve) => {
      const stop = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        signal.removeEventListener("abort", stop);
        resolve();
      }, ms);
      signal.addEventListener("abort", stop, { once: true });
    });
  }

  // An event stream's text, as the HTML standard reads it: one field per line ("name: value"),
  // lines ending in \n, \r\n or \r, a blank line ending each event, lines starting with ":" being
  // comments (the gateway's keep-alive pings). `dispatch(type, data)` gets each event with data;
  // lastId() is the id to resume after. An event cut off by the end of the stream is dropped.
  function parser(lastId, dispatch) {
    let buffer = "";
    let idField = lastId;
    let type = "";
    let data = [];

    function line(text) {
      if (text === "") {
        lastId = idField;
        if (data.length) dispatch(type || "message", data.join("\n"));
        type = "";
        data = [];
        return;
      }
      if (text.startsWith(":")) return;
      const colon = text.indexOf(":");
      const field = colon < 0 ? text : text.slice(0, colon);
      let value = colon < 0 ? "" : text.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "event") type = value;
      else if (field === "data") data.push(value);
      else if (field === "id" && !value.includes("\0")) idField = value;
      // `retry` is ignored: the pause before a reconnect is this page's own.
    }

    function push(text) {
      buffer += text;
      const lineEnd = /\r\n|\r|\n/g;
      let start = 0;
      let match;
      while ((match = lineEnd.exec(buffer))) {
        // A \r at the very end may be the first half of a \r\n: wait for the next chunk.
        if (match[0] === "\r" && lineEnd.lastIndex === buffer.length) break;
        line(buffer.slice(start, match.index));
        start = lineEnd.lastIndex;
      }
      buffer = buffer.slice(start);
    }

    function end() {
      if (buffer.endsWith("\r")) line(buffer.slice(0, -1));
      buffer = "";
    }

    return { push, end, lastId: () => lastId };
  }

  return { follow, parser };
})();
