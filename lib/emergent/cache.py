"""A results cache for expensive runs, and the ``results/`` folder of precomputed full-scale runs.

A cached result is keyed by the experiment's name, a hash of its configuration and the library
version, so changing either invalidates it. Writes are atomic: the result goes to a temporary file
in the same folder, which is then renamed over the target (``os.replace``), so a killed run leaves
either the old file or the new one, never half of one.

Usage::

    result = cache.cached("ch02/fig2_3", config, lambda: train_everything(config))

Results are JSON (dicts of lists, numbers, strings; NumPy arrays and tensors are converted) or,
with ``fmt="pt"``, anything ``torch.save`` can store. A stored file that cannot be read (cut short by
a full disk or a copy, corrupted) is recomputed and overwritten, with a :class:`CorruptCacheWarning`
naming it.

The experiment modules merge a reader's configuration changes into a figure's defaults; they check
them first with :func:`check_config`, so that a misspelt key fails at once instead of being ignored.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
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


class CorruptCacheWarning(UserWarning):
    """A cached result could not be read (a truncated or corrupt file); it is recomputed and overwritten."""


def cached(name: str, config: Mapping[str, Any], compute: Callable[[], Any], *, fmt: str = "json",
           refresh: bool = False, root: Path | None = None) -> Any:
    """Return the stored result of ``name`` with ``config``; compute, store and return it if absent.

    ``refresh=True`` (or ``$EMERGENT_REFRESH=1``) recomputes. The stored JSON round-trips through
    :func:`to_jsonable`, so the returned value is the same whether it was computed or loaded. A stored
    file that cannot be read (truncated, corrupt) is recomputed and overwritten, with a one-line
    :class:`CorruptCacheWarning` naming the file.
    """
    path = key_path(name, config, fmt, root)
    refresh = refresh or os.environ.get("EMERGENT_REFRESH", "") not in ("", "0")
    if path.exists() and not refresh:
        try:
            return load(path)
        except Exception as e:  # JSONDecodeError, UnicodeDecodeError, UnpicklingError, EOFError, RuntimeError, ...
            why = (str(e).splitlines() or [""])[0][:120]
            warnings.warn(f"cache file {path} is unreadable ({type(e).__name__}: {why}); recomputing and overwriting it",
                          CorruptCacheWarning, stacklevel=2)
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


class ConfigError(ValueError):
    """A configuration names a key (or a nested key) that the experiment does not have."""


def _union_keys(templates: list[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    """Every key of ``templates`` -> the templates' values there that are mappings (for nested keys)."""
    out: dict[str, list[Mapping[str, Any]]] = {}
    for t in templates:
        for k, v in t.items():
            out.setdefault(str(k), [])
            if isinstance(v, Mapping):
                out[str(k)].append(v)
    return out


def _unknown_keys(config: Mapping[str, Any], templates: list[Mapping[str, Any]], prefix: str = ""
                  ) -> list[tuple[str, list[str]]]:
    valid = _union_keys(templates)
    bad: list[tuple[str, list[str]]] = []
    for k, v in config.items():
        if str(k) not in valid:
            bad.append((prefix + str(k), sorted(valid)))
        elif valid[str(k)] and isinstance(v, Mapping):
            bad += _unknown_keys(v, valid[str(k)], f"{prefix}{k}.")
    return bad


def check_config(config: Mapping[str, Any] | None, *valid: Mapping[str, Any], what: str = "the configuration") -> None:
    """Raise :class:`ConfigError` if ``config`` has a key that none of the ``valid`` templates has.

    The valid keys are those of the templates together (e.g. a figure's fast and full defaults, and the
    optional keys its code reads); where a template's value is a mapping (``data=dict(...)``) and so is the
    config's, its keys are checked the same way against those templates' keys. The message lists the
    valid keys.
    """
    if not config:
        return
    bad = _unknown_keys(config, list(valid))
    if bad:
        import difflib

        def name(key: str, options: list[str]) -> str:
            close = difflib.get_close_matches(key.rpartition(".")[2], options, n=1)
            return repr(key) + (f" (did you mean {close[0]!r}?)" if close else "")

        names = ", ".join(name(k, options) for k, options in bad)
        levels: dict[str, list[str]] = {}
        for k, options in bad:
            levels.setdefault(k.rpartition(".")[0], options)
        listing = "; ".join((f"valid keys of {lvl!r}: " if lvl else "valid keys: ") + ", ".join(opts)
                            for lvl, opts in levels.items())
        raise ConfigError(f"{what} has no key {names}; {listing}")


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
