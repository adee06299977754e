"""``vidxai methods`` and ``vidxai models``: one line per entry."""
from __future__ import annotations

from ..explain import registry
from . import zoo


def cmd_methods(_args) -> int:
    for m in registry.methods().values():
        needs = ", ".join(sorted(m.needs)) or "-"
        print(f"{m.name:<12} {m.family:<9} paper {m.paper}  needs {needs:<22} {m.summary}")
    return 0


def cmd_models(_args) -> int:
    for name, loader in sorted(zoo.registry().items()):
        print(zoo.model_info(name, loader))
    return 0
