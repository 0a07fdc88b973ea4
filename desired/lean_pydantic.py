"""pydantic without its plugin loader: 1.5 MB less in every agent.

When the first model is built, pydantic imports its plugin loader, which
imports `importlib.metadata` (and through it email, zipfile, csv, bz2, lzma,
...) and scans every installed distribution for the `pydantic` entry-point
group. An agent measured 1.5 MB more for it (docs/benchmarks.md, idle cost:
the budget is 50 MB with the fencer). Overseer uses no pydantic plugin, so a
loader that finds none is registered first. If the real loader is already
imported (someone imported it before overseer.desired), nothing changes; if a
pydantic release needs more from its loader, building the first model fails
loudly at import, in every test (tests/desired/test_lean_pydantic.py).
"""
from __future__ import annotations

import sys
import types

_LOADER = "pydantic.plugin._loader"


def _no_plugins() -> tuple:
    return ()


if _LOADER not in sys.modules:
    _stand_in = types.ModuleType(_LOADER, "Overseer's stand-in: no pydantic plugins (overseer.desired.lean_pydantic)")
    _stand_in.get_plugins = _no_plugins
    sys.modules[_LOADER] = _stand_in
