"""Three kinds of widget, used the same way in every chapter.

(a) :func:`live` — sliders over a *cheap* function (exact toys: recomputes in well under a second).
(b) :func:`select` — a slider or dropdown over *precomputed or cached* results (a β sweep already
    trained), rendering the chosen one instantly.
(c) :func:`run_button` — a Run button with a progress bar, for training one new configuration live.

All three only react to a person. In headless runs (tests, CI, the book build) they are built with
their default values, display the default result once, and return at once: nothing ever waits for
a click. On the static website the widget state is embedded (the controls are visible) but no
kernel answers them, so each notebook also shows the same sweep as a plotly figure with a slider
(:func:`emergent.viz.slider_figure`), which works without a kernel.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import ipywidgets as W
from IPython.display import display

from .runtime import headless

NOTE_STATIC = ("Live controls: move them in JupyterLab, Binder or Colab (they need a running kernel). "
               "On the website, use the precomputed slider figure instead.")


def _show(obj: Any) -> None:
    if obj is not None:
        display(obj)


def log_slider(value: float, lo: float, hi: float, description: str, steps: int = 40) -> W.FloatLogSlider:
    """A log-scale slider from ``lo`` to ``hi`` (both > 0)."""
    import math

    return W.FloatLogSlider(value=value, base=10, min=math.log10(lo), max=math.log10(hi),
                            step=(math.log10(hi) - math.log10(lo)) / steps, description=description,
                            continuous_update=False, readout_format=".3g",
                            style={"description_width": "initial"})


def slider(value: float, lo: float, hi: float, step: float, description: str) -> W.FloatSlider:
    """A linear slider that updates on release (so slow callbacks do not pile up)."""
    return W.FloatSlider(value=value, min=lo, max=hi, step=step, description=description,
                         continuous_update=False, style={"description_width": "initial"})


def live(fn: Callable[..., Any], controls: Mapping[str, W.ValueWidget], note: bool = True) -> W.VBox:
    """Controls + an output area showing ``fn(**values)`` (a figure, a table, text).

    ``fn`` is called once now with the defaults, then on every change. Returns the widget box
    (already displayed).

    Headless runs (tests, the book build: :func:`emergent.runtime.headless`) show the default result
    as an ordinary cell output below the controls instead of inside an ``Output`` widget: nbclient can
    stall when a large display arrives through a widget while it waits for the cell to finish
    (jupyter/nbclient#312). Changing a control still updates the output area.
    """
    out = W.Output()
    values = {k: c.value for k, c in controls.items()}

    def update(_change: Any = None) -> None:
        kw = {k: c.value for k, c in controls.items()}
        out.clear_output(wait=True)
        with out:
            _show(fn(**kw))

    for c in controls.values():
        c.observe(update, names="value")
    children = [W.HBox(list(controls.values()), layout=W.Layout(flex_flow="row wrap")), out]
    if note:
        children.insert(0, W.HTML(f"<small><i>{NOTE_STATIC}</i></small>"))
    box = W.VBox(children)
    display(box)
    if headless():
        _show(fn(**values))
    else:
        update()
    return box


def select(results: Mapping[Any, Any], render: Callable[[Any, Any], Any], description: str = "value",
           value: Any = None, fmt: Callable[[Any], str] = str, note: bool = True) -> W.VBox:
    """A selection slider over precomputed ``results``; shows ``render(key, result)`` for the chosen key."""
    keys = list(results)
    if not keys:
        raise ValueError("select needs at least one result")
    value = keys[len(keys) // 2] if value is None else value
    options = [(fmt(k), k) for k in keys]
    ctl = W.SelectionSlider(options=options, value=value, description=description, continuous_update=False,
                            style={"description_width": "initial"}, layout=W.Layout(width="60%"))
    return live(lambda key: render(key, results[key]), {"key": ctl}, note=note)


def run_button(train: Callable[[Callable[[float, str], None]], Any], controls: Mapping[str, W.ValueWidget] | None = None,
               description: str = "Run", render: Callable[[Any], Any] | None = None) -> W.VBox:
    """A Run button with a progress bar that calls ``train(report, **control_values)`` when clicked.

    ``train`` receives ``report(fraction, message)`` to move the bar. Its return value is shown with
    ``render`` (or displayed as is). Headless runs build the button and never press it.
    """
    controls = dict(controls or {})
    button = W.Button(description=description, button_style="primary", icon="play")
    bar = W.FloatProgress(value=0.0, min=0.0, max=1.0, description="idle",
                          style={"description_width": "initial"})
    out = W.Output()

    def report(fraction: float, message: str = "") -> None:
        bar.value = max(0.0, min(1.0, float(fraction)))
        bar.description = message or f"{100 * bar.value:.0f}%"

    def on_click(_: Any) -> None:
        button.disabled = True
        out.clear_output()
        try:
            with out:
                result = train(report, **{k: c.value for k, c in controls.items()})
                _show(render(result) if render else result)
            report(1.0, "done")
        finally:
            button.disabled = False

    button.on_click(on_click)
    box = W.VBox([W.HBox(list(controls.values()) + [button], layout=W.Layout(flex_flow="row wrap")), bar, out])
    display(box)
    return box


def controls_values(controls: Mapping[str, W.ValueWidget]) -> dict[str, Any]:
    """The current values of a mapping of controls (handy in tests)."""
    return {k: c.value for k, c in controls.items()}


__all__: Sequence[str] = ["live", "select", "run_button", "log_slider", "slider", "controls_values", "NOTE_STATIC"]
