import os

import pytest

os.environ.setdefault("TQDM_DISABLE", "1")

# Under mutation testing (benchmarks/mutation.py runs mutmut, which sets MUTANT_UNDER_TEST):
# compiled executables are shared between the mutant workers through JAX's on-disk cache
# (a mutant changes the traced program, so it never hits another's entry).
if "MUTANT_UNDER_TEST" in os.environ:
    import jax

    jax.config.update("jax_compilation_cache_dir",
                      os.environ.get("VIDXAI_MUTATION_JAX_CACHE", "/tmp/vidxai-mutation-jax-cache"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def _forget_compiled_functions():
    """Drop every trace cache, so each test traces (calls) the library functions it uses.

    mutmut maps tests to functions by recording calls during one run of the suite; a function
    traced once under ``jax.jit`` (or cached by ``lru_cache`` / our own dict caches) is not
    called again by later tests, which would then not be run against its mutants.
    """
    import sys

    import jax

    jax.clear_caches()
    for name, module in list(sys.modules.items()):
        if not name.startswith("vidxai") or module is None:
            continue
        for attr, value in list(vars(module).items()):
            if hasattr(value, "cache_clear"):
                value.cache_clear()
            elif (isinstance(value, dict) and attr.startswith("_") and attr[1:].isupper()
                  and all(callable(v) for v in value.values())):
                value.clear()   # private caches of compiled functions


@pytest.fixture(autouse=True)
def _mutmut_stats_sees_every_call():
    if os.environ.get("MUTANT_UNDER_TEST") == "stats":
        _forget_compiled_functions()
    yield
