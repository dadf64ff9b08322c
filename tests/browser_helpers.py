"""Helpers shared by the browser tests (test_book, test_lab); not a test module."""
from __future__ import annotations

import shutil


def chromium() -> str | None:
    """Debian's chromium (or another Chromium on PATH) for the browser tests, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None



# For every plotly figure of the page: how far it reaches past the right edge of the content column,
# and whether the output area around it scrolls sideways (issue 15: figures fit the column).
FIGURES_PAST_THE_COLUMN_JS = """() => {
  const col = document.querySelector('article.bd-article') || document.querySelector('main')
              || document.body;
  const right = col.getBoundingClientRect().right;
  const bad = [];
  document.querySelectorAll('.js-plotly-plot').forEach((el, i) => {
    const svg = el.querySelector('.main-svg');
    if (!svg) { bad.push(`figure ${i + 1} did not draw`); return; }
    const r = svg.getBoundingClientRect();
    if (r.right > right + 2) bad.push(`figure ${i + 1}: ${Math.round(r.right - right)} px past the column`);
    let box = el.parentElement;
    while (box && box !== col) {
      if (box.scrollWidth > box.clientWidth + 2 && getComputedStyle(box).overflowX !== 'visible')
        { bad.push(`figure ${i + 1}: its output scrolls sideways by ${box.scrollWidth - box.clientWidth} px`); break; }
      box = box.parentElement;
    }
  });
  return bad;
}"""


def figures_past_the_column(page) -> list[str]:
    """Problems of the plotly figures on a loaded page (empty when every one fits its column)."""
    return page.evaluate(FIGURES_PAST_THE_COLUMN_JS)
