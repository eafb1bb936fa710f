// A small time-series chart drawn as inline SVG with DOM calls: no chart library, nothing from
// another origin, nothing parsed from text (the page's CSP allows no inline script or style).
"use strict";

const Plot = (() => {
  const SVG = "http://www.w3.org/2000/svg";
  const HEIGHT = 150;
  const PAD = { left: 44, right: 12, top: 10, bottom: 22 };

  function node(tag, attributes = {}, text) {
    const element = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
    if (text !== undefined) element.textContent = text;
    return element;
  }

  // The smallest 1, 2 or 5 × 10^n at or above `value` (and at least `floor`): round axis labels.
  function niceMax(value, floor) {
    const top = Math.max(value, floor);
    const power = 10 ** Math.floor(Math.log10(top));
    for (const step of [1, 2, 5, 10]) if (step * power >= top) return step * power;
    return 10 * power;
  }

  function label(value) {
    if (value >= 10000) return `${Math.round(value / 1000)}k`;
    if (value >= 1000) return `${(value / 1000).toFixed(1)}k`;
    return String(Math.round(value * 10) / 10);
  }

  // Runs of samples without a hole longer than `gapS` (a gateway restart, Redis away): the line
  // is broken there rather than drawn across time nothing was measured.
  function segments(points, gapS) {
    const runs = [];
    let run = [];
    for (const point of points) {
      if (run.length && point.t - run[run.length - 1].t > gapS) {
        runs.push(run);
        run = [];
      }
      run.push(point);
    }
    if (run.length) runs.push(run);
    return runs;
  }

  // Draws `series` ({t: seconds before now (≤ 0), v: value}) over the last `spanS` seconds into
  // `figure`, replacing what was there. `options`: name (for the accessible label), unit,
  // floor (the least top of the y axis), gapS, className.
  function draw(figure, series, spanS, options) {
    const width = Math.max(figure.clientWidth, 240);
    const plotW = width - PAD.left - PAD.right;
    const plotH = HEIGHT - PAD.top - PAD.bottom;
    const points = series.filter((p) => p.t >= -spanS && p.t <= 0 && Number.isFinite(p.v));
    const peak = points.reduce((most, p) => Math.max(most, p.v), 0);
    const top = niceMax(peak, options.floor);
    const x = (t) => PAD.left + ((t + spanS) / spanS) * plotW;
    const y = (v) => PAD.top + plotH - (v / top) * plotH;

    const last = points.length ? points[points.length - 1].v : null;
    const svg = node("svg", {
      class: `plot ${options.className}`,
      width,
      height: HEIGHT,
      viewBox: `0 0 ${width} ${HEIGHT}`,
      role: "img",
      "aria-label":
        last === null
          ? `${options.name}: no samples yet`
          : `${options.name} over the last ${spanS / 60} minutes: ${label(last)} ${options.unit} now, peak ${label(peak)}`,
    });

    for (const fraction of [0, 0.5, 1]) {
      const value = top * fraction;
      svg.append(node("line", { class: "grid", x1: PAD.left, x2: width - PAD.right, y1: y(value), y2: y(value) }));
      svg.append(node("text", { class: "axis", x: PAD.left - 6, y: y(value) + 4, "text-anchor": "end" }, label(value)));
    }
    const minutes = spanS / 60;
    const step = minutes > 10 ? 5 : minutes > 4 ? 2 : 1;
    for (let m = minutes; m >= 0; m -= step) {
      const text = m === 0 ? "now" : `−${m} min`;
      const anchor = m === minutes ? "start" : m === 0 ? "end" : "middle";
      svg.append(node("text", { class: "axis", x: x(-m * 60), y: HEIGHT - 6, "text-anchor": anchor }, text));
    }

    const base = y(0);
    for (const run of segments(points, options.gapS)) {
      const coordinates = run.map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`);
      const first = x(run[0].t).toFixed(1);
      const end = x(run[run.length - 1].t).toFixed(1);
      svg.append(node("path", { class: "area", d: `M${first},${base} L${coordinates.join(" L")} L${end},${base} Z` }));
      svg.append(node("path", { class: "line", d: `M${coordinates.join(" L")}` }));
    }
    if (last !== null) {
      const tail = points[points.length - 1];
      svg.append(node("circle", { class: "dot", cx: x(tail.t), cy: y(tail.v), r: 3 }));
    }
    figure.replaceChildren(svg);
    // For people reading the figure's attributes (and the tests): what the plot shows.
    figure.dataset.points = String(points.length);
    figure.dataset.last = last === null ? "" : String(last);
    figure.dataset.peak = String(peak);
  }

  return { draw, label };
})();
