"""Three kinds of widget, used the same way in every chapter.

(a) :func:`live` — sliders over a *cheap* function (exact toys: recomputes in well under a second).
(b) :func:`select` — a slider or dropdown over *precomputed or cached* results (a β sweep already
    trained), rendering the chosen one instantly.
(c) :func:`run_button` — a Run button with a progress bar, for training one new configuration live.

Every control of these three gets the course's defaults (:func:`course_style`): its whole label
shown, sliders wide enough to drag (``SLIDER_WIDTH``) and updating on release, and a slider's
readout saying exactly the value that the function receives (:func:`shown`: a float slider's value
is rounded to what its readout shows before ``fn`` sees it), so a figure's title never disagrees
with the slider. Offer only values that have a result: :func:`select` over precomputed results,
:func:`grid_slider` over the grid a function has computed.

All three only react to a person. In headless runs (tests, CI, the book build) they are built with
their default values, display the default result once, and return at once: nothing ever waits for
a click. On the static website the widget state is embedded (the controls are visible) but no
kernel answers them, so each notebook also shows the same sweep as a plotly figure with a slider
(:func:`emergent.viz.slider_figure`), which works without a kernel.
"""
from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any, Callable, Mapping, Sequence

import ipywidgets as W
from IPython.display import display

from .runtime import headless

NOTE_STATIC = ("Live controls: move them in JupyterLab, Binder or Colab "
               "(they need a running kernel). On the website, use the precomputed slider figure "
               "instead.")


def _show(obj: Any) -> None:
    if obj is not None:
        display(obj)


#: Width of every slider: wide enough to drag through 40 steps, one slider per line.
SLIDER_WIDTH = "70%"
SLIDERS = (W.FloatSlider, W.FloatLogSlider, W.IntSlider, W.SelectionSlider, W.FloatRangeSlider,
           W.IntRangeSlider, W.SelectionRangeSlider)
_READOUT = re.compile(r"\.(\d+)~?([efgr])")


def course_style(control: W.Widget) -> W.Widget:
    """The course's defaults on any control, made here or by hand in a notebook.

    The whole description is shown (never cut to "deficit on…"); sliders are ``SLIDER_WIDTH`` wide
    (the default is about 175 px of track, coarse for 40 steps) and update on release, so that slow
    callbacks do not pile up. A width or description width set explicitly is kept.
    """
    style = getattr(control, "style", None)
    if style is not None and hasattr(style, "description_width") and not style.description_width:
        style.description_width = "initial"
    if isinstance(control, SLIDERS):
        if not control.layout.width:
            control.layout.width = SLIDER_WIDTH
        control.continuous_update = False
    return control


def shown(control: W.ValueWidget) -> Any:
    """The control's value as its readout shows it: what a figure should use and print.

    A float slider's value is rounded to its ``readout_format`` (``.3r``: 3 significant digits,
    ``.2f``: 2 decimals, ``.0f``: a whole number, returned as ``int``); any other control's value
    is returned as it is.
    """
    value = control.value
    if isinstance(control, (W.FloatSlider, W.FloatLogSlider)):
        m = _READOUT.fullmatch(control.readout_format or "")
        if m and value:
            digits, kind = int(m.group(1)), m.group(2)
            if kind == "f":
                return int(round(value)) if digits == 0 else round(float(value), digits)
            return float(f"{float(value):.{max(1, digits + (kind == 'e'))}g}")
    return value


def _decimals(step: float) -> int:
    """Decimals of a step as written: 0.05 -> 2, 2.5 -> 1, 1 -> 0."""
    return max(0, -Decimal(str(step)).normalize().as_tuple().exponent)


def log_slider(value: float, lo: float, hi: float, description: str, steps: int = 40,
               integer: bool = False) -> W.FloatLogSlider:
    """A log-scale slider from ``lo`` to ``hi`` (both > 0), ``steps`` steps.

    Its readout shows 3 significant digits (d3's ``.3r``: "0.200", "1260"; ``integer``: whole
    numbers, for counts such as a sample size), and :func:`live` passes exactly that number on (see
    :func:`shown`): a figure that prints it with ``:.3g`` (or ``:d``) shows the same number ("0.2").
    """
    return course_style(W.FloatLogSlider(
        value=value, base=10, min=math.log10(lo), max=math.log10(hi),
        step=(math.log10(hi) - math.log10(lo)) / steps, description=description,
        readout_format=".0f" if integer else ".3r"))


def slider(value: float, lo: float, hi: float, step: float, description: str) -> W.FloatSlider:
    """A linear slider that updates on release; its readout shows as many decimals as ``step``."""
    return course_style(W.FloatSlider(value=value, min=lo, max=hi, step=step,
                                      description=description,
                                      readout_format=f".{_decimals(step)}f"))


def grid_slider(values: Sequence[float], value: float, description: str,
                fmt: str = ".3g") -> W.SelectionSlider:
    """A slider over exactly the values of a grid a function has computed (e.g. a β grid).

    Its readout is ``format(v, fmt)`` of the grid value itself, so the figure can show that value
    and never the nearest grid point to something else. ``value`` snaps to the nearest grid value
    (on a log scale when every value is positive).
    """
    values = [float(v) for v in values]
    if not values:
        raise ValueError("grid_slider needs at least one value")
    log = all(v > 0 for v in values) and value > 0

    def dist(v: float) -> float:
        return abs(math.log(v / value)) if log else abs(v - value)

    chosen = min(values, key=dist)
    return course_style(W.SelectionSlider(options=[(format(v, fmt), v) for v in values],
                                          value=chosen, description=description))


def live(fn: Callable[..., Any], controls: Mapping[str, W.ValueWidget],
         note: bool = True) -> W.VBox:
    """Controls + an output area showing ``fn(**values)`` (a figure, a table, text).

    ``fn`` is called once now with the defaults, then on every change, with each value as its
    control shows it (:func:`shown`). Every control gets the course's defaults
    (:func:`course_style`). Returns the widget box (already displayed).

    Headless runs (tests, the book build: :func:`emergent.runtime.headless`) show the default
    result as an ordinary cell output below the controls instead of inside an ``Output`` widget:
    nbclient can stall when a large display arrives through a widget while it waits for the cell to
    finish (jupyter/nbclient#312). Changing a control still updates the output area.
    """
    out = W.Output()
    for c in controls.values():
        course_style(c)
    values = controls_values(controls)

    def update(_change: Any = None) -> None:
        kw = controls_values(controls)
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


def select(results: Mapping[Any, Any], render: Callable[[Any, Any], Any],
           description: str = "value",
           value: Any = None, fmt: Callable[[Any], str] = str, note: bool = True) -> W.VBox:
    """A selection slider over precomputed ``results``; shows ``render(key, result)`` for the
    chosen key. Only keys that have a result are offered."""
    keys = list(results)
    if not keys:
        raise ValueError("select needs at least one result")
    value = keys[len(keys) // 2] if value is None else value
    options = [(fmt(k), k) for k in keys]
    ctl = W.SelectionSlider(options=options, value=value, description=description)
    return live(lambda key: render(key, results[key]), {"key": ctl}, note=note)


def run_button(train: Callable[[Callable[[float, str], None]], Any],
               controls: Mapping[str, W.ValueWidget] | None = None,
               description: str = "Run", render: Callable[[Any], Any] | None = None) -> W.VBox:
    """A Run button with a progress bar that calls ``train(report, **control_values)`` when clicked.

    ``train`` receives ``report(fraction, message)`` to move the bar. Its return value is shown with
    ``render`` (or displayed as is). Headless runs build the button and never press it.
    """
    controls = {k: course_style(c) for k, c in (controls or {}).items()}
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
                result = train(report, **controls_values(controls))
                _show(render(result) if render else result)
            report(1.0, "done")
        finally:
            button.disabled = False

    button.on_click(on_click)
    row = W.HBox(list(controls.values()) + [button], layout=W.Layout(flex_flow="row wrap"))
    box = W.VBox([row, bar, out])
    display(box)
    return box


def controls_values(controls: Mapping[str, W.ValueWidget]) -> dict[str, Any]:
    """The current values of a mapping of controls, as they show them (:func:`shown`)."""
    return {k: shown(c) for k, c in controls.items()}


__all__: Sequence[str] = ["live", "select", "run_button", "log_slider", "slider", "grid_slider",
                          "course_style", "shown", "controls_values", "NOTE_STATIC", "SLIDER_WIDTH"]
