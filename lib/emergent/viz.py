"""Plotly figures in one house style, rendered so that they work offline everywhere.

Rendering. Inside a Jupyter kernel, importing this module registers and selects the renderer
``"plotly_mimetype+emergent_html"``: each figure is emitted both as the plotly mimetype (drawn by JupyterLab's plotly
extension) and as a small HTML snippet that calls ``Plotly.newPlot`` *without* inlining plotly.js.
The book build ships one ``plotly.min.js``, copied from the installed plotly package, on every
page (``book/_ext/emergent_assets.py``), so the website draws every figure with no network and
without a 3.5 MB copy of plotly.js per figure.

Precomputed sweeps. :func:`slider_figure` turns a dictionary ``{value: traces}`` into one figure
with a plotly slider that toggles trace visibility, which works on the static website without a
kernel; it is the website's counterpart of a live ipywidgets slider.
"""
from __future__ import annotations

import json
from typing import Any, Callable, Iterable, Mapping, Sequence

import plotly.graph_objects as go
import plotly.io as pio
from plotly.io._base_renderers import MimetypeRenderer

from .runtime import in_notebook

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2",
          "#7f7f7f", "#bcbd22"]

TEMPLATE = go.layout.Template(
    layout=dict(
        font=dict(family="Helvetica, Arial, sans-serif", size=13),
        colorway=COLORS,
        plot_bgcolor="white",
        paper_bgcolor="white",
        margin=dict(l=60, r=20, t=50, b=50),
        xaxis=dict(showgrid=True, gridcolor="#eee", zeroline=False, linecolor="#444", ticks="outside"),
        yaxis=dict(showgrid=True, gridcolor="#eee", zeroline=False, linecolor="#444", ticks="outside"),
        legend=dict(bgcolor="rgba(255,255,255,0.8)"),
        hovermode="closest",
    )
)
pio.templates["emergent"] = TEMPLATE


class OfflineHtmlRenderer(MimetypeRenderer):
    """Emit a figure as a ``<div>`` plus ``Plotly.newPlot``, relying on a plotly.js already on the page.

    No plotly.js, no MathJax and no CDN reference is written into the output.
    """

    def __init__(self, config: Mapping[str, Any] | None = None):
        self.config = dict(config or {"responsive": True, "displaylogo": False})

    def to_mimebundle(self, fig_dict: dict) -> dict:
        html = pio.to_html(fig_dict, config=self.config, include_plotlyjs=False, include_mathjax=False,
                           full_html=False, default_width="100%", default_height=fig_height(fig_dict),
                           validate=False)
        return {"text/html": html}


def fig_height(fig_dict: dict) -> int | str:
    return (fig_dict.get("layout") or {}).get("height") or 450


pio.renderers["emergent_html"] = OfflineHtmlRenderer()
RENDERER = "plotly_mimetype+emergent_html"


def use_offline_renderer() -> None:
    """Select the offline renderer (done automatically when imported inside a kernel)."""
    pio.renderers.default = RENDERER
    pio.templates.default = "plotly_white+emergent"


if in_notebook():
    use_offline_renderer()
else:
    pio.templates.default = "plotly_white+emergent"


def figure(title: str | None = None, xlabel: str | None = None, ylabel: str | None = None,
           height: int = 420, **layout: Any) -> go.Figure:
    """An empty figure in the house style."""
    fig = go.Figure()
    fig.update_layout(title=title, xaxis_title=xlabel, yaxis_title=ylabel, height=height,
                      template="plotly_white+emergent", **layout)
    return fig


def lines(x: Sequence[float] | Mapping[str, Sequence[float]], ys: Mapping[str, Sequence[float]],
          title: str | None = None, xlabel: str | None = None, ylabel: str | None = None,
          log_x: bool = False, log_y: bool = False, dash: Iterable[str] = (), markers: bool = True,
          **layout: Any) -> go.Figure:
    """One line per entry of ``ys`` against ``x`` (or against ``x[name]`` when ``x`` is a mapping).

    Names listed in ``dash`` are drawn dashed (e.g. a reference curve).
    """
    fig = figure(title, xlabel, ylabel, **layout)
    dashed = set(dash)
    for name, y in ys.items():
        xs = x[name] if isinstance(x, Mapping) else x
        fig.add_trace(go.Scatter(x=list(xs), y=list(y), name=name, mode="lines+markers" if markers else "lines",
                                 line=dict(dash="dash" if name in dashed else "solid")))
    if log_x:
        fig.update_xaxes(type="log")
    if log_y:
        fig.update_yaxes(type="log")
    return fig


def images(imgs: Any, titles: Sequence[str] | None = None, cols: int = 8, size: int = 90,
           colorscale: str = "gray", title: str | None = None) -> go.Figure:
    """A grid of grayscale images (array/tensor of shape (N, H, W) or (N, 1, H, W))."""
    import numpy as np
    from plotly.subplots import make_subplots

    arr = imgs.detach().cpu().numpy() if hasattr(imgs, "detach") else np.asarray(imgs)
    if arr.ndim == 4:
        arr = arr[:, 0] if arr.shape[1] == 1 else arr.transpose(0, 2, 3, 1).mean(-1)
    n = len(arr)
    rows = (n + cols - 1) // cols
    fig = make_subplots(rows=rows, cols=min(cols, n), subplot_titles=list(titles) if titles else None,
                        horizontal_spacing=0.01, vertical_spacing=0.08 if titles else 0.02)
    for i, im in enumerate(arr):
        fig.add_trace(go.Heatmap(z=im[::-1], colorscale=colorscale, showscale=False, hoverinfo="skip"),
                      row=i // cols + 1, col=i % cols + 1)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    for i in range(n):  # each panel keeps square pixels, anchored to its own x axis
        suffix = "" if i == 0 else str(i + 1)
        fig.layout[f"yaxis{suffix}"].scaleanchor = f"x{suffix}"
    # no fixed width: the figure takes its column's width (up to ``size`` px per image) and the
    # panels keep square pixels, so a row of images never reaches past the page (issue 15)
    fig.update_layout(height=rows * size + 60, title=title, autosize=True,
                      template="plotly_white+emergent", margin=dict(l=10, r=10, t=50 if title else 20, b=10))
    return fig


def slider_figure(frames: Mapping[Any, Sequence[go.BaseTraceType]], label: str = "value",
                  title: str | None = None, active: int | None = None, fmt: Callable[[Any], str] = str,
                  static: Sequence[go.BaseTraceType] = (), **layout: Any) -> go.Figure:
    """A figure with a slider over precomputed results, usable without a kernel.

    ``frames`` maps each slider value to the traces shown at that value (every value must produce
    the same number of traces). ``static`` traces are shown at every position (e.g. a whole curve
    under a moving point). The slider toggles trace visibility, so the figure carries all the data
    and needs no Python to respond.
    """
    keys = list(frames)
    if not keys:
        raise ValueError("slider_figure needs at least one frame")
    per = [len(frames[k]) for k in keys]
    fig = go.Figure(layout=dict(template="plotly_white+emergent"))
    for tr in static:
        fig.add_trace(tr)
    n_static = len(static)
    active = len(keys) // 2 if active is None else active
    for i, k in enumerate(keys):
        for tr in frames[k]:
            tr.visible = i == active
            fig.add_trace(tr)
    steps = []
    start = n_static
    for i, k in enumerate(keys):
        visible = [True] * n_static + [False] * sum(per)
        offset = n_static + sum(per[:i])
        for j in range(per[i]):
            visible[offset + j] = True
        steps.append(dict(method="restyle", args=[{"visible": visible}], label=fmt(k)))
    del start
    fig.update_layout(sliders=[dict(active=active, steps=steps, currentvalue=dict(prefix=f"{label} = "),
                                    pad=dict(t=50))], title=title, **layout)
    return fig


def figure_json(fig: go.Figure) -> dict:
    """The figure as a plain JSON dict (what the tests and ``results/`` store)."""
    return json.loads(pio.to_json(fig, validate=False))
