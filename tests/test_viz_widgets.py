import json

import ipywidgets as W
import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import pytest

from emergent import exercises, viz, widgets


def test_offline_renderer_emits_no_plotlyjs_and_no_cdn():
    fig = viz.lines([1, 2, 3], {"a": [1, 4, 9]}, title="t")
    bundle = pio.renderers["emergent_html"].to_mimebundle(fig.to_dict())
    html = bundle["text/html"]
    assert "Plotly.newPlot" in html
    assert len(html) < 50_000  # plotly.js (3.5 MB) is not inlined
    for cdn in ("cdn.plot.ly", "cdn.jsdelivr", "cdnjs", "unpkg", "mathjax"):
        assert cdn not in html.lower()


def test_combined_renderer_keeps_plotly_mimetype():
    fig = viz.figure()
    fig.add_scatter(x=[0, 1], y=[1, 0])
    bundle = pio._renderers.renderers._build_mime_bundle(fig.to_dict(), renderers_string=viz.RENDERER)
    assert set(bundle) == {"application/vnd.plotly.v1+json", "text/html"}


def test_slider_figure_toggles_the_right_traces():
    frames = {b: [go.Scatter(x=[0, 1], y=[b, b]), go.Scatter(x=[0], y=[b])] for b in (0.1, 1.0, 10.0)}
    fig = viz.slider_figure(frames, label="β", static=[go.Scatter(x=[0, 1], y=[0, 0])], active=1)
    assert len(fig.data) == 1 + 3 * 2
    steps = fig.layout.sliders[0].steps
    assert [s.label for s in steps] == ["0.1", "1.0", "10.0"]
    for i, step in enumerate(steps):
        vis = step.args[0]["visible"]
        assert vis[0] is True  # the static trace is always shown
        shown = [j for j, v in enumerate(vis) if v and j > 0]
        assert shown == [1 + 2 * i, 2 + 2 * i]
        assert fig.data[shown[0]].y[0] == list(frames)[i]
    # initially only the active frame is visible
    assert [bool(t.visible) for t in fig.data[1:]] == [False, False, True, True, False, False]
    json.loads(fig.to_json())  # serialisable: the static site can carry it
    with pytest.raises(ValueError):
        viz.slider_figure({})


def test_images_grid_shapes():
    fig = viz.images(np.random.rand(5, 1, 8, 8), cols=3)
    assert len(fig.data) == 5


def test_live_calls_function_with_defaults_and_on_change():
    calls = []

    def f(a, b):
        calls.append((a, b))

    ctl = {"a": widgets.slider(0.5, 0, 1, 0.1, "a"), "b": W.IntSlider(value=3)}
    box = widgets.live(f, ctl)
    assert isinstance(box, W.VBox)
    assert calls == [(0.5, 3)]  # once, with the defaults, without anybody clicking
    ctl["b"].value = 4
    assert calls[-1] == (0.5, 4)


def test_select_over_precomputed_results():
    seen = []
    widgets.select({1: "one", 2: "two", 3: "three"}, lambda k, v: seen.append((k, v)))
    assert seen == [(2, "two")]  # the middle one by default


def test_run_button_never_runs_by_itself_and_runs_on_click():
    runs = []

    def train(report, n):
        report(0.5, "half")
        runs.append(n)
        return n * 2

    box = widgets.run_button(train, {"n": W.IntSlider(value=7)})
    assert runs == []  # headless: built, never pressed
    button = box.children[0].children[-1]
    button.click()
    assert runs == [7]
    assert box.children[1].value == 1.0 and box.children[1].description == "done"


def test_log_slider_range():
    s = widgets.log_slider(0.1, 1e-3, 10, "β")
    assert s.min == pytest.approx(-3) and s.max == pytest.approx(1) and s.value == pytest.approx(0.1)


def test_exercise_check(capsys):
    assert exercises.check("x", None, 1.0) is None
    assert exercises.check("x", 2.0, 2.001) is True
    assert exercises.check("x", 3.0, 2.0) is False
    assert exercises.check("x", "abc", "abc") is True
    assert "not answered" in capsys.readouterr().out
