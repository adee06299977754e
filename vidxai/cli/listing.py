"""``vidxai methods`` and ``vidxai models``: one line per entry."""
from __future__ import annotations

from ..explain import registry
from .. import zoo


def cmd_methods(_args) -> int:
    table = registry.methods().values()
    width = max(len(m.name) for m in table)
    needs = {m.name: ", ".join(sorted(m.needs)) or "-" for m in table}
    needs_width = max(len(n) for n in needs.values())
    for m in table:
        print(f"{m.name:<{width}} {m.family:<9} paper {m.paper}  "
              f"needs {needs[m.name]:<{needs_width}} {m.summary}")
    return 0


def cmd_models(_args) -> int:
    for name, loader in sorted(zoo.registry().items()):
        print(zoo.model_info(name, loader))
    return 0
