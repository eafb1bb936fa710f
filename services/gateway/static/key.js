// The API key the page sends when the gateway has keys, and the small form that asks for it.
// The key is kept in this browser's localStorage, so it survives a reload, and travels only in
// the Authorization header: never in an address, which would end up in access logs.
"use strict";

const ApiKey = (() => {
  const STORAGE_NAME = "thinkstream.api-key";
  // What fetch accepts in a header; a key made by `thinkstream keys new` is letters, digits, - and _.
  const PLAIN = /^[\x21-\x7e]+$/;
  const NEEDED = "This gateway needs an API key. Enter yours to continue; the gateway's operator can give you one.";
  const REFUSED = "The API key was not accepted. Check it for typos, or ask the gateway's operator for a new one.";
  const MALFORMED = "That is not an API key: a key has no spaces or special characters. Check what you pasted.";
  const CHANGE = "This page sends the saved API key with its requests. Enter another to replace it, or forget it.";
  const ENTER = "Enter the API key this page should send with its requests.";
  const FORGOTTEN = "The key is forgotten: this page sends none until you enter one.";

  const $ = (id) => document.getElementById(id);
  let ui = null;
  let kept = null; // the key, also when the browser keeps no site data (then only until a reload)
  let lastRefused = null;
  let onClose = () => {};
  const retries = new Set(); // what to send again once a key is saved

  function get() {
    try {
      return localStorage.getItem(STORAGE_NAME) ?? kept;
    } catch {
      return kept;
    }
  }

  function save(key) {
    kept = key;
    try {
      localStorage.setItem(STORAGE_NAME, key);
    } catch {
      // Storage is blocked: the key lasts as long as the page.
    }
  }

  function forget() {
    kept = null;
    try {
      localStorage.removeItem(STORAGE_NAME);
    } catch {
      // Nothing was stored.
    }
  }

  // The header that carries `key` (the saved one when not given), or none.
  function header(key = get()) {
    return key ? { Authorization: `Bearer ${key}` } : {};
  }

  // The gateway answered 401 to a request sent with `sent` (a key, or null for none): ask for a
  // key and call `retry` once one is saved. A key saved while the request was out is tried at once.
  function refused(sent, retry) {
    const current = get();
    if (sent !== null && sent === current) {
      forget(); // sending it again would only be refused again, also after a reload
      lastRefused = sent;
    } else if (current !== null) {
      retry();
      return;
    }
    retries.add(retry);
    open(sent !== null && sent === lastRefused ? REFUSED : NEEDED);
  }

  function open(message) {
    ui.message.textContent = message;
    ui.forget.hidden = get() === null;
    ui.form.hidden = false;
    ui.button.hidden = false; // the gateway has keys: from now on the key can be changed
    ui.input.focus();
  }

  function close() {
    ui.form.hidden = true;
    ui.input.value = "";
    onClose();
  }

  function submitted(event) {
    event.preventDefault();
    const key = ui.input.value.trim();
    if (!PLAIN.test(key)) {
      open(MALFORMED);
      return;
    }
    save(key);
    close();
    const waiting = [...retries];
    retries.clear();
    for (const retry of waiting) retry();
  }

  // Wires the form; `afterClose` is called whenever it closes (to give the focus back).
  function setup(afterClose) {
    ui = {
      button: $("key"),
      form: $("key-form"),
      message: $("key-message"),
      input: $("key-input"),
      forget: $("key-forget"),
    };
    onClose = afterClose;
    ui.button.hidden = get() === null;
    ui.button.addEventListener("click", () => {
      if (ui.form.hidden) open(get() ? CHANGE : ENTER);
      else close();
    });
    ui.form.addEventListener("submit", submitted);
    ui.forget.addEventListener("click", () => {
      forget();
      open(FORGOTTEN);
    });
    $("key-close").addEventListener("click", close);
    ui.form.addEventListener("keydown", (event) => {
      if (event.key === "Escape") close();
    });
  }

  // `ask(message)`: open the form with a message of the caller's (the status page's "not an
  // operator's key"), without forgetting the saved key.
  return { setup, header, get, refused, ask: open };
})();
