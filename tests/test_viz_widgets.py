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


def test_controls_get_the_course_defaults():
    # a control made by hand in a notebook: whole label, wide slider, updates on release
    onset = W.SelectionSlider(options=[0, 4, 8], value=0, description="deficit onset")
    fixed = W.IntSlider(value=1, description="n", layout=W.Layout(width="200px"),
                        style={"description_width": "30px"})
    menu = W.Dropdown(options=["a", "b"], description="a long description")
    widgets.live(lambda onset, n, m: None, {"onset": onset, "n": fixed, "m": menu})
    assert onset.style.description_width == "initial"
    assert onset.layout.width == widgets.SLIDER_WIDTH and onset.continuous_update is False
    assert fixed.layout.width == "200px" and fixed.style.description_width == "30px"  # kept
    assert menu.style.description_width == "initial"
    for s in (widgets.slider(0.5, 0, 1, 0.1, "a"), widgets.log_slider(1, 0.1, 10, "b"),
              widgets.grid_slider([1, 2], 1, "c")):
        assert s.layout.width == widgets.SLIDER_WIDTH and s.continuous_update is False
    run = W.IntSlider(value=8, description="onset")
    widgets.run_button(lambda report, onset: None, {"onset": run})
    assert run.layout.width == widgets.SLIDER_WIDTH


def test_figure_gets_the_value_the_readout_shows():
    seen = []
    beta = widgets.log_slider(0.2, 1e-3, 10.0, "β")   # 40 log steps: 0.2 is not on them
    eps = widgets.slider(0.531, 0.05, 1.0, 0.001, "ε")
    n = widgets.log_slider(1000, 50, 100_000, "N", integer=True)
    assert beta.readout_format == ".3r" and eps.readout_format == ".3f" and n.readout_format == ".0f"
    assert widgets.slider(0.5, 0, 1, 0.05, "x").readout_format == ".2f"
    assert widgets.slider(2.5, 0, 180, 2.5, "θ").readout_format == ".1f"
    assert widgets.slider(32, 2, 256, 1, "D").readout_format == ".0f"
    widgets.live(lambda b, e, n: seen.append((b, e, n)), {"b": beta, "e": eps, "n": n})
    assert seen[-1] == (0.2, 0.531, 1000) and isinstance(seen[-1][2], int)
    beta.value = 10 ** (beta.min + 23 * beta.step)   # where a drag lands: 0.19953, read "0.200"
    assert beta.value != 0.2 and seen[-1][0] == 0.2
    beta.value = 0.8185       # a position the readout shows as 0.819 (3 significant digits)
    assert seen[-1][0] == 0.819
    eps.value = 0.8200000001
    assert seen[-1][1] == 0.82
    n.value = 1258.93
    assert seen[-1][2] == 1259
    assert widgets.shown(W.Dropdown(options=["a"], value="a")) == "a"


def test_grid_slider_offers_exactly_the_grid():
    grid = np.logspace(-2, 0, 7)
    s = widgets.grid_slider(grid, 0.2, "β")
    assert [v for _, v in s.options] == list(grid)
    assert [label for label, _ in s.options] == [format(v, ".3g") for v in grid]
    assert s.value == grid[np.argmin(np.abs(np.log(grid / 0.2)))]   # snapped, on a log scale
    seen = []
    widgets.live(lambda beta: seen.append(beta), {"beta": s})
    s.value = grid[-1]
    assert seen == [s.options[4][1], 1.0]
    assert widgets.grid_slider([-1.0, 0.0, 1.0], 0.4, "x").value == 0.0
    with pytest.raises(ValueError):
        widgets.grid_slider([], 1.0, "x")


def test_exercise_check(capsys):
    assert exercises.check("x", None, 1.0) is None
    assert exercises.check("x", 2.0, 2.001) is True
    assert exercises.check("x", 3.0, 2.0) is False
    assert exercises.check("x", "abc", "abc") is True
    assert "not answered" in capsys.readouterr().out


def test_image_grids_size_to_their_column():
    # issue 15: a fixed width made rows of images reach past the website's column
    import numpy as np

    from emergent import viz

    fig = viz.images(np.zeros((9, 8, 8)), cols=9, size=110)
    assert fig.layout.width is None and fig.layout.height == 110 + 60
    assert fig.layout.yaxis9.scaleanchor == "x9"   # square pixels in every panel
