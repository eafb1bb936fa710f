"""An evaluation's table (rich), JSON file and chart (PNG, matplotlib's Agg canvas, no GUI)."""

from __future__ import annotations

from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from rich.table import Table

from services.evaluation.results import EvalRun, ModeSummary, Proportion

VERDICT_COLOURS = {"pass": "#2e7d32", "fail": "#c62828", "unsure": "#f9a825"}
CHART_DPI = 120


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.0%}"


def table(run: EvalRun) -> Table:
    """One row per mode: accuracy, check verdict rates, timings and tokens. Why a mode was
    unavailable goes in the caption."""
    langs = sorted({lang for mode in run.modes if mode.summary for lang in mode.summary.accuracy_by_lang})
    settings = " ".join(f"{key}={value}" for key, value in run.request.items())
    out = Table(title=f"thinkstream eval · {run.url} · {settings}", title_justify="left", caption_justify="left")
    out.add_column("mode")
    out.add_column("n", justify="right")
    out.add_column("accuracy", justify="right")
    for lang in langs:
        out.add_column(lang, justify="right")
    for verdict, colour in VERDICT_COLOURS.items():
        out.add_column(verdict, justify="right", style=colour)
    out.add_column("pass→right", justify="right")
    out.add_column("TTFT ms", justify="right")
    out.add_column("total s", justify="right")
    out.add_column("tok/s", justify="right")
    out.add_column("think+answer", justify="right")
    out.add_column("errors", justify="right")
    notes = []
    for mode in run.modes:
        if mode.summary is None:
            out.add_row(mode.name, *["–"] * (len(out.columns) - 1), style="dim")
            notes.append(f"{mode.name}: unavailable ({mode.unavailable_reason or 'not run'})")
            continue
        s = mode.summary
        out.add_row(
            mode.name,
            str(s.questions),
            f"{s.accuracy:.0%} ({s.correct})",
            *[_pct(s.accuracy_by_lang.get(lang)) for lang in langs],
            _pct(s.pass_rate),
            _pct(s.fail_rate),
            _pct(s.unsure_rate),
            _pct(s.correct_when_pass),
            f"{s.mean_ttft_ms:.0f}",
            f"{s.mean_total_ms / 1000:.1f}",
            f"{s.mean_tokens_per_s:.1f}",
            f"{s.mean_reasoning_tokens:.0f}+{s.mean_answer_tokens:.0f}",
            str(s.errors),
        )
    notes.append("pass→right: of the answers the checks passed, the share that was right")
    out.caption = "\n".join(notes)
    return out


def _interval(p: Proportion | None) -> str:
    return "–" if p is None else f"{p.rate:.0%} [{p.low:.0%}–{p.high:.0%}] ({p.correct}/{p.n})"


def rungs_of(run: EvalRun) -> list[str]:
    return sorted({rung for mode in run.modes if mode.summary for rung in mode.summary.accuracy_by_rung})


def ladder_table(run: EvalRun) -> Table | None:
    """Accuracy per rung and mode with 95% Wilson intervals; None when no question has a rung."""
    rungs = rungs_of(run)
    if not rungs:
        return None
    out = Table(title="accuracy per rung · 95% Wilson intervals", title_justify="left")
    out.add_column("mode")
    for rung in rungs:
        out.add_column(rung, justify="right")
    out.add_column("all", justify="right")
    for mode in run.modes:
        if mode.summary is None:
            continue
        s = mode.summary
        out.add_row(mode.name, *[_interval(s.accuracy_by_rung.get(rung)) for rung in rungs], _interval(s.accuracy_ci))
    return out


def write_json(run: EvalRun, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(run.model_dump_json(indent=2) + "\n", encoding="utf-8")


def write_chart(run: EvalRun, path: Path) -> None:
    """Three panels across the modes: accuracy (all and per language), stacked check verdicts,
    mean time to first token and total time. An unavailable mode keeps its place, without bars."""
    names = [m.name if m.summary else f"{m.name}\n(unavailable)" for m in run.modes]
    summaries = [m.summary for m in run.modes]
    rungs = rungs_of(run)
    figure = Figure(figsize=(18 if rungs else 13, 4.2), layout="constrained")
    FigureCanvasAgg(figure)
    panels = list(figure.subplots(1, 4 if rungs else 3, width_ratios=[1, 1, 1, 1.6] if rungs else None))
    _accuracy_panel(panels[0], summaries)
    _verdict_panel(panels[1], summaries)
    _timing_panel(panels[2], summaries)
    for axes in panels[:3]:
        axes.set_xticks(range(len(names)), names)
        axes.legend(fontsize=8)
    if rungs:
        _rung_panel(panels[3], run, rungs)
    n = max((s.questions for s in summaries if s), default=0)
    figure.suptitle(f"thinkstream eval: {n} questions, {run.url}", fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=CHART_DPI)


def _labels(values: list[float], summaries: list[ModeSummary | None], fmt: str) -> list[str]:
    return [format(v, fmt) if s else "" for v, s in zip(values, summaries, strict=True)]


def _accuracy_panel(axes: Axes, summaries: list[ModeSummary | None]) -> None:
    langs = sorted({lang for s in summaries if s for lang in s.accuracy_by_lang})
    groups: list[str | None] = [None, *langs]
    width = 0.8 / len(groups)
    for i, lang in enumerate(groups):
        heights = [
            100 * (s.accuracy if lang is None else s.accuracy_by_lang.get(lang, 0.0)) if s else 0.0 for s in summaries
        ]
        offset = (i - (len(groups) - 1) / 2) * width
        bars = axes.bar([x + offset for x in range(len(summaries))], heights, width, label=lang or "all")
        axes.bar_label(bars, _labels(heights, summaries, ".0f"), fontsize=8)
    axes.set(title="accuracy", ylabel="% correct", ylim=(0, 105))


def _verdict_panel(axes: Axes, summaries: list[ModeSummary | None]) -> None:
    bottom = [0.0] * len(summaries)
    for verdict, colour in VERDICT_COLOURS.items():
        rates = [100 * getattr(s, f"{verdict}_rate") if s else 0.0 for s in summaries]
        axes.bar(range(len(summaries)), rates, 0.6, bottom=bottom, color=colour, label=verdict)
        bottom = [b + r for b, r in zip(bottom, rates, strict=True)]
    axes.set(title="check verdicts", ylabel="% of checked answers", ylim=(0, 105))


def _timing_panel(axes: Axes, summaries: list[ModeSummary | None]) -> None:
    xs = range(len(summaries))
    ttft = [s.mean_ttft_ms / 1000 if s else 0.0 for s in summaries]
    total = [s.mean_total_ms / 1000 if s else 0.0 for s in summaries]
    axes.bar([x - 0.2 for x in xs], ttft, 0.4, label="first token")
    bars = axes.bar([x + 0.2 for x in xs], total, 0.4, label="total")
    axes.bar_label(bars, _labels(total, summaries, ".1f"), fontsize=8)
    axes.set(title="mean time per question", ylabel="seconds")


def _rung_panel(axes: Axes, run: EvalRun, rungs: list[str]) -> None:
    """Accuracy per rung, one bar per mode, with 95% Wilson intervals as error bars."""
    modes = [m for m in run.modes if m.summary is not None]
    width = 0.8 / max(1, len(modes))
    for i, mode in enumerate(modes):
        assert mode.summary is not None
        cells = [mode.summary.accuracy_by_rung.get(rung) for rung in rungs]
        rates = [100 * c.rate if c else 0.0 for c in cells]
        below = [100 * (c.rate - c.low) if c else 0.0 for c in cells]
        above = [100 * (c.high - c.rate) if c else 0.0 for c in cells]
        offset = (i - (len(modes) - 1) / 2) * width
        xs = [x + offset for x in range(len(rungs))]
        axes.bar(xs, rates, width, label=mode.name, yerr=[below, above], capsize=3, error_kw={"elinewidth": 1})
    axes.set_xticks(range(len(rungs)), rungs, fontsize=8)
    axes.set(title="accuracy per rung (95% Wilson interval)", ylabel="% correct", ylim=(0, 105))
    axes.legend(fontsize=8)
