"""A results cache for expensive runs, and the ``results/`` folder of precomputed full-scale runs.

A cached result is keyed by the experiment's name, a hash of its configuration and the library
version, so changing either invalidates it. Writes are atomic: the result goes to a temporary file
in the same folder, which is then renamed over the target (``os.replace``), so a killed run leaves
either the old file or the new one, never half of one.

Usage::

    result = cache.cached("ch02/fig2_3", config, lambda: train_everything(config))

Results are JSON (dicts of lists, numbers, strings; NumPy arrays and tensors are converted) or,
with ``fmt="pt"``, anything ``torch.save`` can store.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from . import __version__

REPO_ROOT = Path(__file__).resolve().parents[2]


def cache_dir() -> Path:
    """Where cached runs live: ``$EMERGENT_CACHE``, else ``<repo>/.cache/emergent`` (else ``~/.cache``)."""
    env = os.environ.get("EMERGENT_CACHE")
    if env:
        return Path(env)
    if (REPO_ROOT / "pyproject.toml").exists():
        return REPO_ROOT / ".cache" / "emergent"
    return Path.home() / ".cache" / "emergent"


def results_dir() -> Path:
    """The committed folder of precomputed full-scale results: ``$EMERGENT_RESULTS`` or ``<repo>/results``."""
    return Path(os.environ.get("EMERGENT_RESULTS", REPO_ROOT / "results"))


def to_jsonable(obj: Any) -> Any:
    """Convert tensors, arrays, NumPy scalars, tuples and paths into plain JSON types."""
    if hasattr(obj, "detach") and hasattr(obj, "cpu"):  # torch.Tensor
        obj = obj.detach().cpu().numpy()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (np.floating, np.integer, np.bool_)):
        return obj.item()
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def config_hash(config: Mapping[str, Any], version: str = __version__) -> str:
    """A short stable hash of a JSON-able configuration and the library version."""
    blob = json.dumps({"config": to_jsonable(config), "version": version}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def key_path(name: str, config: Mapping[str, Any], fmt: str = "json", root: Path | None = None) -> Path:
    """The file that stores experiment ``name`` run with ``config``."""
    safe = name.strip("/").replace("..", "_")
    return (root or cache_dir()) / safe / f"{config_hash(config)}.{fmt}"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def save(path: Path, obj: Any) -> Path:
    """Save ``obj`` atomically as JSON (``.json``) or with ``torch.save`` (``.pt``)."""
    path = Path(path)
    if path.suffix == ".json":
        atomic_write_bytes(path, json.dumps(to_jsonable(obj), indent=1).encode())
    else:
        import io

        import torch

        buf = io.BytesIO()
        torch.save(obj, buf)
        atomic_write_bytes(path, buf.getvalue())
    return path


def load(path: Path) -> Any:
    """Load what :func:`save` wrote."""
    path = Path(path)
    if path.suffix == ".json":
        return json.loads(path.read_text())
    import torch

    return torch.load(path, map_location="cpu", weights_only=False)


def cached(name: str, config: Mapping[str, Any], compute: Callable[[], Any], *, fmt: str = "json",
           refresh: bool = False, root: Path | None = None) -> Any:
    """Return the stored result of ``name`` with ``config``; compute, store and return it if absent.

    ``refresh=True`` (or ``$EMERGENT_REFRESH=1``) recomputes. The stored JSON round-trips through
    :func:`to_jsonable`, so the returned value is the same whether it was computed or loaded.
    """
    path = key_path(name, config, fmt, root)
    refresh = refresh or os.environ.get("EMERGENT_REFRESH", "") not in ("", "0")
    if path.exists() and not refresh:
        return load(path)
    result = compute()
    save(path, result)
    return load(path) if fmt == "json" else result


def parse_overrides(items: list[str]) -> dict:
    """``["widths=[16,32]", "epochs=5"]`` -> ``{"widths": [16, 32], "epochs": 5}`` (values as JSON, else
    as plain strings): the ``--set`` option of the experiment CLIs."""
    out: dict = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"expected KEY=VALUE, got {item!r}")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def load_result(name: str) -> Any | None:
    """Load ``results/<name>.json`` (a committed full-scale result), or ``None`` if it is not there."""
    path = results_dir() / f"{name}.json"
    return load(path) if path.exists() else None


def precomputed(name: str, command: str) -> Any | None:
    """``results/<name>.json`` if it is there, printing how and where it was made (its ``"run"`` record);
    else ``None``, printing the ``command`` that makes it."""
    res = load_result(name)
    if res is None:
        print(f"results/{name}.json is not there; make it with `{command}`")
        return None
    run = res.get("run", {}) if isinstance(res, dict) else {}
    print(f"results/{name}.json: made on {run.get('device_name', '?')} ({run.get('threads', '?')} thread(s)) "
          f"in {run.get('seconds', float('nan')):.0f} s, {run.get('date', '?')}")
    return res


def save_result(name: str, obj: Any) -> Path:
    """Write ``results/<name>.json`` atomically (the CLIs of the experiments use it)."""
    return save(results_dir() / f"{name}.json", obj)
