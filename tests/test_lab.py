"""The course as a student meets it: JupyterLab in headless Chromium, driven by Playwright.

A JupyterLab server starts on a free local port with a token, on a temporary copy of two notebooks
(so that autosave never writes outputs into the repository): an exact toy
(``chapters/01_introduction/01_information.ipynb``) and a training notebook with a Run button
(``chapters/06_critical_periods/01_critical_periods.ipynb``). In Debian's ``chromium`` (Playwright's
``executable_path``: no browser download) the test runs both notebooks (Run All), and checks:

* MyST renders (jupyterlab-myst): an exercise is an exercise, no raw ``:label:`` or ``:class:``
  text is visible, its solution is collapsed, and the maths is typeset;
* a slider moved with the mouse redraws its figure, and the figure shows the value the slider
  shows;
* a Run button trains: the progress bar reaches "done" and a figure appears.

It saves two screenshots (``lab_exercise.png``, ``lab_slider.png``) in a temporary folder, or, with
``EMERGENT_LAB_SCREENSHOTS=book/images``, over those of ``book/how_to_use.md``, and stops its server. Kernels run with the results cache of the
repository (``.cache/emergent``), so after the notebook tests of ``./course test`` (phase 1) the
training notebook's sweeps are cached. Runs in phase 2 of ``./course test`` (marker ``lab``).
Without chromium or playwright it skips, except on CI (``CI`` set), where it fails.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from browser_helpers import chromium

ROOT = Path(__file__).resolve().parents[1]
TOY = "chapters/01_introduction/01_information.ipynb"
TRAINING = "chapters/06_critical_periods/01_critical_periods.ipynb"
# Screenshots go to a temporary folder; EMERGENT_LAB_SCREENSHOTS=book/images refreshes the committed
# ones of book/how_to_use.md (a plain test run leaves the repository as it was).
IMAGES = Path(os.environ.get("EMERGENT_LAB_SCREENSHOTS") or
              Path(os.environ.get("TMPDIR", "/tmp")) / "emergent-lab-screenshots")
if not IMAGES.is_absolute():
    IMAGES = ROOT / IMAGES
TOKEN = "emergent-lab-test"
VISIBLE = ".jp-NotebookPanel:not(.lm-mod-hidden)"
pytestmark = [pytest.mark.lab, pytest.mark.browser]

# JupyterLab settings of the test's server: every cell in the page (no windowing, so that the whole
# notebook can be read), no news or update pop-up over the notebook.
SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false", "checkForUpdates": False},
}


def missing(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what}: the JupyterLab browser test cannot run (.ci/run installs Debian's "
                    "chromium; ./course setup installs playwright from the lock)")
    pytest.skip(f"{what}: skipping the JupyterLab browser test")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on a temporary copy of the two notebooks; yields its base URL."""
    if chromium() is None:
        missing("chromium is not installed")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing("playwright is not installed")
    tmp = tmp_path_factory.mktemp("lab")
    root = tmp / "root"
    for nb in (TOY, TRAINING):
        (root / nb).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / nb, root / nb)
    for name, value in SETTINGS.items():
        (tmp / "settings" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp / "settings" / name).write_text(json.dumps(value))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_CURRENT_TEST", "CI")}
    env.update(EMERGENT_HEADLESS="0",            # a person is there: widgets react, Run trains
               EMERGENT_THREADS="1", OMP_NUM_THREADS="1",
               EMERGENT_CACHE=os.environ.get("EMERGENT_CACHE", str(ROOT / ".cache" / "emergent")),
               JUPYTERLAB_SETTINGS_DIR=str(tmp / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"),
               JUPYTER_CONFIG_DIR=str(tmp / "config"), JUPYTER_RUNTIME_DIR=str(tmp / "runtime"))
    log = open(tmp / "server.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
         f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={root}",
         "--ServerApp.allow_root=True", "--LabApp.news_url=",
         "--ServerApp.terminals_enabled=False"],
        cwd=root, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("JupyterLab did not start:\n"
                                + (tmp / "server.log").read_text()[-3000:])
                time.sleep(0.5)
        yield url
    finally:
        server.send_signal(signal.SIGTERM)       # JupyterLab shuts its kernels down, then exits
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


@pytest.fixture(scope="module")
def page(lab, tmp_path_factory):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(),
                                    args=["--no-sandbox", "--disable-gpu",
                                          "--disable-dev-shm-usage"])
        pg = browser.new_page(viewport={"width": 1280, "height": 900})
        pg.set_default_timeout(60_000)
        pg.lab_url = lab
        pg.failure_dir = tmp_path_factory.mktemp("lab-failures")
        yield pg
        browser.close()


@contextlib.contextmanager
def shot_on_failure(page, name: str):
    """On failure, a screenshot of the page (its path is printed) says what the browser saw."""
    try:
        yield
    except BaseException:
        path = page.failure_dir / f"{name}.png"
        page.screenshot(path=str(path))
        print(f"screenshot of the page at the failure: {path}")
        raise


def open_and_run_all(page, nb: str, timeout_s: float = 150) -> None:
    """Open a notebook in JupyterLab, Run All Cells, and wait until the last cell has run."""
    page.goto(f"{page.lab_url}/lab/tree/{nb}?token={TOKEN}&reset")
    page.wait_for_selector(f"{VISIBLE} .jp-CodeCell")
    # the kernel has started when the status bar says so
    page.locator(".jp-StatusBar-TextItem", has_text=re.compile(r"\| Idle")).wait_for()
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile("^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile("^Run All Cells$")).click()
    page.wait_for_function(
        "(sel) => [...document.querySelectorAll(sel + ' .jp-CodeCell .jp-InputPrompt')]"
        ".some(e => /\\[(\\*|\\d+)\\]/.test(e.innerText))", arg=VISIBLE, timeout=30_000)
    deadline = time.monotonic() + timeout_s
    while True:
        state = page.evaluate("""(sel) => {
          const prompts = [...document.querySelectorAll(sel + ' .jp-CodeCell .jp-InputPrompt')]
            .map(e => e.innerText.trim());
          const text = document.querySelector(sel + ' .jp-Notebook').innerText;
          return {prompts, error: /Traceback \\(most recent call last\\)/.test(text)};
        }""", VISIBLE)
        if state["error"]:
            pytest.fail(f"{nb}: a cell raised an error in JupyterLab")
        if state["prompts"] and all(re.fullmatch(r"\[\d+\]:", p) for p in state["prompts"]):
            return
        if time.monotonic() > deadline:
            pytest.fail(f"{nb}: Run All did not finish in {timeout_s} s: "
                        f"prompts {state['prompts']}")
        time.sleep(1)


def drag(page, handle, dx: float) -> None:
    box = handle.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + dx, y, steps=8)
    page.mouse.up()


def figure_title(box) -> str:
    return box.locator(".js-plotly-plot .gtitle").first.text_content()


def test_exact_toy_notebook_in_jupyterlab(page):
    with shot_on_failure(page, "toy"):
        exact_toy(page)


def exact_toy(page):
    open_and_run_all(page, TOY)
    nb = page.locator(f"{VISIBLE} .jp-Notebook")
    text = nb.inner_text()

    # MyST: exercises render as exercises, with no directive options left as text
    assert ":label:" not in text and ":class:" not in text and "```{" not in text, \
        "raw MyST in JupyterLab: is jupyterlab-myst installed and enabled?"
    exercises = nb.locator(".myst-exercise")
    assert exercises.count() >= 2, "no exercise rendered by jupyterlab-myst"
    # the first exercise with maths in its question, and its solution: in the next cell with an
    # exercise block (the classroom convention puts each {solution} in its own cell), or in the same
    cells = nb.locator(".jp-MarkdownCell").all()
    k = next(i for i, c in enumerate(cells) if c.locator(".myst-exercise").count() and c.locator(
        ".myst-exercise").first.locator(".myst-exercise-body .katex").count() and c.locator(
        ".myst-exercise-title").first.inner_text().startswith("Exercise"))
    cell = cells[k]
    exercise = cell.locator(".myst-exercise").first
    if cell.locator(".myst-exercise").count() > 1:
        solution, last = cell.locator(".myst-exercise").nth(1), cell
    else:
        last = cells[k + 1]
        solution = last.locator(".myst-exercise").first
    assert "Exercise" in exercise.inner_text()
    assert "Solution" in solution.inner_text()
    body = solution.locator(".myst-exercise-body")
    assert body.count() == 0 or not body.first.is_visible(), "the solution is not collapsed"
    cell.scroll_into_view_if_needed()
    top, bottom = cell.bounding_box(), last.bounding_box()
    IMAGES.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(IMAGES / "lab_exercise.png"),
                    clip=dict(x=top["x"], y=top["y"], width=top["width"],
                              height=bottom["y"] + bottom["height"] - top["y"]))

    # a live slider redraws its figure, and the figure shows the value the slider shows
    box = nb.locator(".widget-vbox", has=page.locator(".widget-slider")).first
    box.scroll_into_view_if_needed()
    slider = box.locator(".widget-slider").first
    width = slider.locator(".noUi-target, .slider-container").first.bounding_box()["width"]
    assert width > 400, f"the slider's track is {width:.0f} px wide: too coarse to drag"
    before = figure_title(box)
    readout_before = slider.locator(".widget-readout").inner_text()
    drag(page, slider.locator(".noUi-handle").first, width * 0.3)
    page.wait_for_function(
        "([el, old]) => { const t = el.querySelector('.js-plotly-plot .gtitle');"
        " return t && t.textContent !== old; }", arg=[box.element_handle(), before], timeout=20_000)
    readout = slider.locator(".widget-readout").inner_text()
    assert readout != readout_before
    after = figure_title(box)
    assert after != before
    assert f"{float(readout):g}" in after, f"the slider shows {readout}, the figure says {after!r}"
    box.screenshot(path=str(IMAGES / "lab_slider.png"))


def test_training_notebook_in_jupyterlab(page):
    with shot_on_failure(page, "training"):
        training(page)


def training(page):
    open_and_run_all(page, TRAINING, timeout_s=240)
    nb = page.locator(f"{VISIBLE} .jp-Notebook")

    # the schedule slider offers only trained schedules: each position shows a learning curve
    box = nb.locator(".widget-vbox", has=page.locator(".widget-slider")).first
    box.scroll_into_view_if_needed()
    assert "not in the sweep" not in box.inner_text()
    before = figure_title(box)
    readout = box.locator(".widget-readout").first.inner_text()
    assert readout in before, f"the slider shows {readout!r}, the figure says {before!r}"
    handle = box.locator(".noUi-handle").first
    handle.focus()
    page.keyboard.press("ArrowLeft")
    page.wait_for_function(
        "([el, old]) => { const t = el.querySelector('.js-plotly-plot .gtitle');"
        " return t && t.textContent !== old; }", arg=[box.element_handle(), before], timeout=20_000)
    assert box.locator(".widget-readout").first.inner_text() in figure_title(box)
    assert box.locator(".js-plotly-plot .scatterlayer .trace").count() >= 2  # clean + deficit

    # the Run button trains one schedule with a progress bar, then shows its figure
    run = nb.locator(".widget-vbox", has=page.locator(".widget-button", has_text="Run")).last
    run.scroll_into_view_if_needed()
    run.locator(".widget-button", has_text="Run").click()
    run.locator(".widget-hprogress .widget-label", has_text="done").wait_for(timeout=120_000)
    run.locator(".js-plotly-plot").first.wait_for(timeout=20_000)
    assert "final accuracy" in figure_title(run)
