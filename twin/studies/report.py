"""Sweep reports: FinOps figures a planner can paste into a slide.

:func:`write_report` turns a sweep result (see :mod:`twin.studies.sweep.runner`) into
``summary.csv`` (one row per point, units in the header), PNG bar charts and a self-contained
``report.html`` (tables, the charts embedded).  Figures: cost and carbon per GPU-hour, the PUE
breakdown (IT, cooling, power-chain losses, other), SLA attainment per tier, peak import and
demand-response performance, savings against the as-operated and rule-based baselines.

PNG charts are drawn with Pillow when it is installed (no browser or plotting stack needed);
without it the report says so and keeps its tables.
"""

from __future__ import annotations

import base64
import html
import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from twin.studies.sweep.runner import open_results, plain_text

MAX_CHART_POINTS = 40
MAX_HTML_ROWS = 500


class ReportError(ValueError):
    """A result that cannot be reported (missing, not a sweep result)."""


def load_results(path: str | Path) -> xr.Dataset:
    """Open a sweep result: a Zarr store (folder) or a NetCDF file, loaded into memory.

    Parameters
    ----------
    path
        ``results.zarr`` written by ``dctwin sweep`` or a NetCDF copy of it.

    Returns
    -------
    xarray.Dataset
        Dimension ``scenario``; see :func:`twin.studies.sweep.runner.result_variables`.

    Raises
    ------
    ReportError
        The path does not exist or does not hold a sweep result.
    """
    path = Path(path)
    if not path.exists():
        raise ReportError(f"{path}: no such file or folder")
    try:
        if path.is_dir():
            ds = open_results(path)
        else:
            ds = plain_text(xr.load_dataset(path, engine="h5netcdf"))
    except Exception as exc:  # any unreadable store: one line, no traceback
        raise ReportError(f"{path}: not a readable sweep result ({exc})") from None
    missing = [n for n in ("done", "cost", "status") if n not in ds]
    if "scenario" not in ds.dims or missing:
        raise ReportError(
            f"{path}: not a sweep result (no 'scenario' dimension or missing {', '.join(missing)})"
        )
    return ds


# --------------------------------------------------------------------------------------------
# the table


def _ratio(a: pd.Series, b: pd.Series) -> pd.Series:
    return a / b.where(b != 0)


def _fields(ds: xr.Dataset) -> dict[str, str]:
    try:
        names = json.loads(str(ds.attrs.get("fields", "{}")))
    except json.JSONDecodeError:
        names = {}
    return {k: v for k, v in names.items() if k in ds.coords}


def summary_table(ds: xr.Dataset) -> tuple[pd.DataFrame, dict[str, str]]:
    """One row per computed point with the report's figures, and the unit of every column.

    Parameters
    ----------
    ds
        A sweep result.

    Returns
    -------
    (pandas.DataFrame, dict)
        Columns: swept fields, ``status``, ``verified``, cost [currency], cost and carbon per
        GPU-hour [currency/h, kg/h], PUE and its parts [-], SLA attainment per tier [-], peak
        [kW] and demand-response figures [kW, h], savings vs both baselines [-], ``error``.
        Points not computed yet are left out.
    """
    cur = str(ds.attrs.get("currency", "USD"))
    done = ds["done"].values.astype(bool)
    sub = ds.isel(scenario=np.flatnonzero(done))

    def col(name: str) -> pd.Series:
        if name not in sub:
            return pd.Series(np.full(sub.sizes["scenario"], np.nan))
        return pd.Series(np.asarray(sub[name].values))

    table: dict[str, Any] = {"scenario": np.asarray(sub["scenario"].values)}
    units: dict[str, str] = {"scenario": ""}
    for name, path in _fields(ds).items():
        values = np.asarray(sub[name].values)
        numeric = values.dtype.kind in "fiu"
        table[path] = values if numeric else values.astype(object)
        units[path] = str(sub[name].attrs.get("units", "")) if numeric else ""
    table["status"] = col("status").astype(str).to_numpy()
    table["plan_source"] = col("plan_source").astype(object).fillna("").astype(str).to_numpy()
    table["verified"] = col("verified")
    units.update(status="", plan_source="", verified="")
    it = col("it_energy_kwh")
    gpu_hours = col("gpu_hours")
    columns: list[tuple[str, pd.Series, str]] = [
        ("committed_hours", col("committed_hours"), "h"),
        ("lookahead_hours", col("lookahead_hours"), "h"),
        ("cost", col("cost"), cur),
        ("cost_per_gpu_hour", _ratio(col("cost"), gpu_hours), f"{cur}/GPU-h"),
        ("energy_cost", col("energy_cost"), cur),
        ("demand_charge", col("demand_charge"), cur),
        ("carbon_cost", col("carbon_cost"), cur),
        ("carbon_kg", col("carbon_kg"), "kg CO2e"),
        ("carbon_kg_per_gpu_hour", _ratio(col("carbon_kg"), gpu_hours), "kg CO2e/GPU-h"),
        ("gpu_hours", gpu_hours, "GPU-h"),
        ("gpu_utilization", _ratio(col("gpu_busy_hours"), gpu_hours), "1"),
        ("it_energy_kwh", it, "kWh"),
        ("pue", col("pue"), "1"),
        ("pue_cooling", _ratio(col("cooling_energy_kwh"), it), "1"),
        ("pue_power_chain", _ratio(col("power_chain_loss_kwh"), it), "1"),
        ("pue_other", _ratio(col("other_energy_kwh"), it), "1"),
        ("as_operated_pue", col("as_operated_pue"), "1"),
        ("sla_tier1", col("sla_tier1"), "1"),
        ("sla_tier2", col("sla_tier2"), "1"),
        ("sla_tier3", col("sla_tier3"), "1"),
        ("peak_grid_kw", col("peak_grid_kw"), "kW"),
        ("as_operated_peak_grid_kw", col("as_operated_peak_grid_kw"), "kW"),
        ("contract_headroom_kw", col("contract_capacity_kw") - col("peak_grid_kw"), "kW"),
        ("dr_hours", col("dr_hours"), "h"),
        ("dr_max_excess_kw", col("dr_max_excess_kw"), "kW"),
        ("as_operated_dr_max_excess_kw", col("as_operated_dr_max_excess_kw"), "kW"),
        ("dr_shed_kw", col("dr_shed_kw"), "kW"),
    ]
    for base in ("as_operated", "rule_based"):
        for key in ("cost", "carbon_kg", "peak_grid_kw", "cooling_energy_kwh"):
            reference = col(f"{base}_{key}")
            columns.append(
                (f"saving_{key}_vs_{base}", _ratio(reference - col(key), reference), "1")
            )
    columns += [
        ("as_operated_cost", col("as_operated_cost"), cur),
        ("as_operated_carbon_kg", col("as_operated_carbon_kg"), "kg CO2e"),
        ("rule_based_cost", col("rule_based_cost"), cur),
        ("violations", col("violations"), "1"),
        ("solve_seconds", col("solve_seconds"), "s"),
    ]
    for name, series, unit in columns:
        table[name] = series.to_numpy(dtype=float)
        units[name] = unit
    table["error"] = col("error").astype(str).to_numpy()
    units["error"] = ""
    return pd.DataFrame(table), units


# --------------------------------------------------------------------------------------------
# charts (Pillow)

_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]


@dataclass
class Chart:
    """A bar chart: one group per point, one bar per series (or stacked)."""

    name: str
    title: str
    y_label: str
    labels: list[str]
    series: list[tuple[str, list[float]]]
    stacked: bool = False
    x_label: str = "sweep point #"
    """What the group labels are: the swept fields with their units."""


def _font(size: int) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: fixed bitmap font
        return ImageFont.load_default()


def _nice_step(span: float) -> float:
    raw = span / 5 if span > 0 else 1.0
    power = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * power:
            return m * power
    return 10 * power


def render_png(chart: Chart, path: Path, width: int = 960, height: int = 480) -> None:
    """Draw ``chart`` as a PNG file (needs Pillow).

    Parameters
    ----------
    chart
        Title, axis label [unit in the label], group labels and series values.
    path
        PNG file written.
    width, height
        Image size [px].
    """
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    title_font, font, small = _font(18), _font(13), _font(11)
    left, right, top, bottom = 90, 20, 56, 70
    draw.text((left, 8), chart.title, fill="black", font=title_font)
    values = np.array([v for _, v in chart.series], dtype=float)  # (S, N)
    values = np.where(np.isfinite(values), values, 0.0)
    if chart.stacked:
        tops = values.sum(axis=0)
        low, high = min(0.0, float(values.min(initial=0))), float(tops.max(initial=0))
    else:
        low, high = min(0.0, float(values.min(initial=0))), max(0.0, float(values.max(initial=0)))
    if high == low:
        high = low + 1.0
    step = _nice_step(high - low)
    low, high = math.floor(low / step) * step, math.ceil(high / step) * step
    plot_w, plot_h = width - left - right, height - top - bottom

    def y(v: float) -> float:
        return top + plot_h * (high - v) / (high - low)

    tick = low
    while tick <= high + step / 2:
        draw.line([(left, y(tick)), (left + plot_w, y(tick))], fill="#dddddd")
        text = f"{tick:,.4g}"
        draw.text(
            (left - 8 - draw.textlength(text, font=small), y(tick) - 7),
            text,
            fill="black",
            font=small,
        )
        tick += step
    draw.line([(left, y(0)), (left + plot_w, y(0))], fill="black")
    draw.text((8, top - 24), chart.y_label, fill="black", font=font)
    groups = len(chart.labels)
    slot = plot_w / max(groups, 1)
    bars = 1 if chart.stacked else len(chart.series)
    bar_w = max(slot * 0.8 / bars, 1.0)
    for g in range(groups):
        x0 = left + g * slot + slot * 0.1
        base = 0.0
        for s in range(len(chart.series)):
            v = float(values[s, g])
            if chart.stacked:
                a, b = base, base + v
                base = b
                xa = x0
            else:
                a, b = 0.0, v
                xa = x0 + s * bar_w
            y0, y1 = sorted((y(a), y(b)))
            draw.rectangle(
                [xa, y0, xa + bar_w - 1, max(y1, y0 + 1)], fill=_COLORS[s % len(_COLORS)]
            )
        label = chart.labels[g]
        if draw.textlength(label, font=small) <= slot or g % max(1, int(30 / max(slot, 1))) == 0:
            draw.text((x0, top + plot_h + 6), label, fill="black", font=small)
    lx = left
    for s, (name, _) in enumerate(chart.series):
        draw.rectangle([lx, height - 24, lx + 12, height - 12], fill=_COLORS[s % len(_COLORS)])
        draw.text((lx + 16, height - 26), name, fill="black", font=font)
        lx += 30 + int(draw.textlength(name, font=font))
    caption = chart.x_label
    draw.text(
        (left + plot_w - draw.textlength(caption, font=small), top + plot_h + 24),
        caption,
        fill="#555555",
        font=small,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, format="PNG")


def swept_columns(table: pd.DataFrame) -> list[str]:
    """The swept fields' columns of a :func:`summary_table` (between scenario and status)."""
    columns = list(table.columns)
    return columns[1 : columns.index("status")]


def point_labels(table: pd.DataFrame, units: dict[str, str]) -> tuple[list[str], str]:
    """Each point labelled by its swept values ("2,000 / 0.3"), and what they are.

    Parameters
    ----------
    table, units
        From :func:`summary_table` (or some of its rows).

    Returns
    -------
    (list of str, str)
        One label per row, and the axis caption naming the swept fields with their units
        (``"#"`` point numbers when nothing is swept).
    """
    fields = swept_columns(table)
    if not fields:
        return [f"#{i}" for i in table["scenario"]], "sweep point #"

    def text(value: Any) -> str:
        if isinstance(value, float | int | np.number) and not isinstance(value, bool):
            return f"{float(value):,.4g}"
        return str(value)

    labels = [" / ".join(text(row[f]) for f in fields) for _, row in table.iterrows()]
    caption = " / ".join(f + (f" [{units[f]}]" if units.get(f) else "") for f in fields)
    return labels, caption


def charts(table: pd.DataFrame, units: dict[str, str]) -> tuple[list[Chart], list[str]]:
    """The report's charts over (at most ``MAX_CHART_POINTS``) computed points, and notes.

    Parameters
    ----------
    table, units
        From :func:`summary_table`.

    Returns
    -------
    (list of Chart, list of str)
        Charts (values in the unit of their ``y_label``) and notes for the reader.
    """
    notes: list[str] = []
    ok = table[table["status"] != "error"].copy()
    if ok.empty:
        return [], ["no point finished without error: no charts"]
    if len(ok) > MAX_CHART_POINTS:
        ok = ok.nsmallest(MAX_CHART_POINTS, "cost")
        notes.append(f"charts show the {MAX_CHART_POINTS} lowest-cost points of {len(table)}")
    labels, x_label = point_labels(ok, units)
    cur = units["cost"]
    per_gpu = bool(np.isfinite(ok["cost_per_gpu_hour"]).any())
    if not per_gpu:
        notes.append("no GPU counts (gpus_per_rack in the sweep file): costs are per point")

    def vals(name: str, scale: float = 1.0) -> list[float]:
        return [float(v) * scale for v in ok[name]]

    gpu = ok["gpu_hours"].to_numpy(dtype=float) if per_gpu else np.ones(len(ok))
    out = [
        Chart(
            "cost_per_gpu_hour",
            "Cost per GPU-hour" if per_gpu else "Cost",
            f"[{cur}/GPU-h]" if per_gpu else f"[{cur}]",
            labels,
            [
                ("plan", list(ok["cost"].to_numpy(dtype=float) / gpu)),
                ("as operated", list(ok["as_operated_cost"].to_numpy(dtype=float) / gpu)),
                ("rule-based", list(ok["rule_based_cost"].to_numpy(dtype=float) / gpu)),
            ],
        ),
        Chart(
            "carbon_per_gpu_hour",
            "Carbon per GPU-hour" if per_gpu else "Carbon",
            "[kg CO2e/GPU-h]" if per_gpu else "[kg CO2e]",
            labels,
            [
                ("plan", list(ok["carbon_kg"].to_numpy(dtype=float) / gpu)),
                ("as operated", list(ok["as_operated_carbon_kg"].to_numpy(dtype=float) / gpu)),
            ],
        ),
        Chart(
            "pue_breakdown",
            "PUE breakdown of the plan",
            "[-]",
            labels,
            [
                ("IT", [1.0] * len(ok)),
                ("cooling", vals("pue_cooling")),
                ("power chain", vals("pue_power_chain")),
                ("other", vals("pue_other")),
            ],
            stacked=True,
        ),
        Chart(
            "sla_attainment",
            "SLA attainment per tier",
            "[%]",
            labels,
            [(f"tier {t}", vals(f"sla_tier{t}", 100.0)) for t in (1, 2, 3)],
        ),
        Chart(
            "peak_import",
            "Peak grid import",
            "[kW]",
            labels,
            [("plan", vals("peak_grid_kw")), ("as operated", vals("as_operated_peak_grid_kw"))],
        ),
        Chart(
            "savings",
            "Savings of the plan vs as operated",
            "[%]",
            labels,
            [
                ("cost", vals("saving_cost_vs_as_operated", 100.0)),
                ("carbon", vals("saving_carbon_kg_vs_as_operated", 100.0)),
                ("peak", vals("saving_peak_grid_kw_vs_as_operated", 100.0)),
                ("cooling", vals("saving_cooling_energy_kwh_vs_as_operated", 100.0)),
            ],
        ),
    ]
    if (ok["dr_hours"].fillna(0) > 0).any():
        out.append(
            Chart(
                "demand_response",
                "Worst import above the DR cap (<= 0: cap met)",
                "[kW]",
                labels,
                [
                    ("plan", vals("dr_max_excess_kw")),
                    ("as operated", vals("as_operated_dr_max_excess_kw")),
                ],
            )
        )
    else:
        notes.append("no demand-response event inside the horizon")
    for chart in out:
        chart.x_label = x_label
    return out, notes


SUMMARY_COLUMNS = (
    "status",
    "verified",
    "cost",
    "cost_per_gpu_hour",
    "pue",
    "peak_grid_kw",
    "sla_tier3",
    "saving_cost_vs_as_operated",
    "saving_carbon_kg_vs_as_operated",
    "violations",
)
"""Columns of the report's on-screen table after the swept fields; summary.csv has them all."""


def screen_table(table: pd.DataFrame) -> pd.DataFrame:
    """The columns of ``table`` that fit a screen: point, swept fields, key figures.

    Columns with no value at all (e.g. cost per GPU-hour without GPU counts) are left out.
    """
    columns = ["scenario", *swept_columns(table)]
    for name in SUMMARY_COLUMNS:
        if name in table and (table[name].dtype == object or table[name].notna().any()):
            columns.append(name)
    return table[columns]


# --------------------------------------------------------------------------------------------
# the report


@dataclass
class ReportFiles:
    """Files written by :func:`write_report`."""

    html: Path
    csv: Path
    plots: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _fmt(value: Any, unit: str = "") -> str:
    if isinstance(value, float | np.floating):
        number = float(value)
        if not math.isfinite(number):
            return "–"
        if unit == "1" and abs(number) <= 10:
            return f"{number:.3f}"
        return f"{number:,.2f}" if abs(number) < 100 else f"{number:,.0f}"
    return html.escape(str(value))


def schedules_returned(sources: pd.Series) -> str:
    """How many points returned each schedule: "co_plan 9, rule_based 3" (points from a
    store made before sweeps recorded it: "not recorded")."""
    counts = sources.replace("", "not recorded").value_counts()
    return ", ".join(f"{name} {count}" for name, count in counts.items())


def _headline(table: pd.DataFrame, units: dict[str, str]) -> list[tuple[str, str]]:
    ok = table[table["status"] != "error"]
    if ok.empty:
        return [("points computed", str(len(table))), ("points without error", "0")]
    best = ok.iloc[int(np.argmin(ok["cost"].to_numpy(dtype=float)))]
    cur = units["cost"]
    rows = [
        ("points computed (failed)", f"{len(table)} ({int((table['status'] == 'error').sum())})"),
        ("plans verified", f"{int(ok['verified'].fillna(0).sum())} of {len(ok)}"),
        ("schedule returned", schedules_returned(ok["plan_source"])),
        ("lowest-cost point", f"#{int(best['scenario'])}"),
        ("its cost", f"{best['cost']:,.0f} {cur}"),
        ("cost per GPU-hour", f"{_fmt(best['cost_per_gpu_hour'])} {cur}/GPU-h"),
        ("carbon per GPU-hour", f"{_fmt(best['carbon_kg_per_gpu_hour'])} kg CO2e/GPU-h"),
        (
            "PUE (cooling + power chain + other)",
            f"{best['pue']:.3f} (1 + {best['pue_cooling']:.3f} + "
            f"{best['pue_power_chain']:.3f} + {best['pue_other']:.3f})",
        ),
        (
            "saving vs as operated: cost / carbon / peak",
            f"{best['saving_cost_vs_as_operated']:+.1%} / "
            f"{best['saving_carbon_kg_vs_as_operated']:+.1%} / "
            f"{best['saving_peak_grid_kw_vs_as_operated']:+.1%}",
        ),
        ("saving vs rule-based: cost", f"{best['saving_cost_vs_rule_based']:+.1%}"),
        (
            "SLA tier 1 / 2 / 3",
            " / ".join(
                "–" if not np.isfinite(best[f"sla_tier{t}"]) else f"{best[f'sla_tier{t}']:.1%}"
                for t in (1, 2, 3)
            ),
        ),
        (
            "peak import (as operated)",
            f"{best['peak_grid_kw']:,.0f} kW ({best['as_operated_peak_grid_kw']:,.0f} kW)",
        ),
    ]
    if np.isfinite(best["dr_max_excess_kw"]):
        rows.append(
            (
                "DR: worst excess over cap, plan (as operated)",
                f"{best['dr_max_excess_kw']:,.0f} kW "
                f"({best['as_operated_dr_max_excess_kw']:,.0f} kW)",
            )
        )
    return rows


def write_report(ds: xr.Dataset, folder: str | Path) -> ReportFiles:
    """Write ``summary.csv``, PNG charts and a self-contained ``report.html`` into ``folder``.

    Parameters
    ----------
    ds
        A sweep result (:func:`load_results`).
    folder
        Output folder (created).

    Returns
    -------
    ReportFiles
        Paths written and notes (e.g. charts skipped because Pillow is missing).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    table, units = summary_table(ds)
    csv = folder / "summary.csv"
    header = [f"{c} [{units[c]}]" if units.get(c) else c for c in table.columns]
    table.to_csv(csv, index=False, header=header, float_format="%.6g")
    files = ReportFiles(html=folder / "report.html", csv=csv)
    total, done = int(ds.sizes["scenario"]), int(ds["done"].values.sum())
    if done < total:
        files.notes.append(f"{total - done} of {total} points not computed yet (resume the sweep)")
    chart_list, notes = charts(table, units)
    files.notes += notes
    try:
        import PIL  # noqa: F401
    except ImportError:
        files.notes.append("Pillow is not installed: no PNG charts (pip install pillow)")
        chart_list = []
    images: list[tuple[Chart, str]] = []
    for chart in chart_list:
        path = folder / f"{chart.name}.png"
        render_png(chart, path)
        files.plots.append(path)
        images.append((chart, base64.b64encode(path.read_bytes()).decode()))
    files.html.write_text(_html(ds, table, units, images, files.notes), encoding="utf-8")
    return files


def _html(
    ds: xr.Dataset,
    table: pd.DataFrame,
    units: dict[str, str],
    images: list[tuple[Chart, str]],
    notes: list[str],
) -> str:
    esc = html.escape
    title = str(ds.attrs.get("title", "dctwin sweep"))
    horizon = float(ds.attrs.get("horizon_seconds", float("nan"))) / 3600
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{esc(title)}</title><style>",
        "body{font-family:sans-serif;margin:2em;max-width:1200px}",
        "table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;padding:3px 6px;"
        "text-align:right}th{background:#f3f3f3}td.t{text-align:left}img{max-width:100%}",
        "</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        f"<p>Base scenario <code>{esc(str(ds.attrs.get('base_scenario', '')))}</code>, "
        f"{int(ds.sizes['scenario'])} point(s), {horizon:g} h plan each; generated "
        f"{datetime.now(UTC).isoformat(timespec='seconds')}. Every plan figure is the "
        "physics-verified one; savings are fractional reductions (positive: the plan is "
        "better).</p>",
    ]
    if notes:
        parts.append("<ul>" + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>")
    parts.append("<h2>Key figures</h2><table>")
    for label, value in _headline(table, units):
        parts.append(f"<tr><th class='t'>{esc(label)}</th><td>{esc(value)}</td></tr>")
    parts.append("</table>")
    if images:
        parts.append("<h2>Charts</h2>")
        for chart, data in images:
            parts.append(
                f"<h3>{esc(chart.title)}</h3><img alt='{esc(chart.title)}' "
                f"src='data:image/png;base64,{data}'>"
            )
    shown = screen_table(table).head(MAX_HTML_ROWS)
    parts.append(
        f"<h2>All points</h2><p>Key figures of each point; the full table ({table.shape[1]} "
        "columns, every figure and its unit) is <a href='summary.csv'>summary.csv</a>.</p>"
        "<div style='overflow-x:auto'><table><tr>"
    )
    for col in shown.columns:
        unit = units.get(col, "")
        parts.append(f"<th>{esc(col)}{f' [{esc(unit)}]' if unit else ''}</th>")
    parts.append("</tr>")
    for _, row in shown.iterrows():
        cells = []
        for col in shown.columns:
            value = row[col]
            cls = " class='t'" if isinstance(value, str) else ""
            cells.append(f"<td{cls}>{_fmt(value, units.get(col, ''))}</td>")
        parts.append("<tr>" + "".join(cells) + "</tr>")
    parts.append("</table></div>")
    if len(table) > MAX_HTML_ROWS:
        parts.append(f"<p>First {MAX_HTML_ROWS} of {len(table)} rows; all in summary.csv.</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


__all__ = [
    "Chart",
    "ReportError",
    "ReportFiles",
    "charts",
    "load_results",
    "render_png",
    "schedules_returned",
    "summary_table",
    "write_report",
]
