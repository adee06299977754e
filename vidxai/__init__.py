"""vidxai: explain video models, JAX-native.

Stages (paper 001's removal-based framework): ``io`` (read/write video), ``segment``
(features), ``sampling`` (coalitions), ``removal`` (what replaces removed features),
``scoring`` (batched model evaluation: ``vidxai.score``, ``vidxai.score_coalitions``; the old
name ``vidxai.evaluate`` is a deprecated alias), ``surrogate`` (summaries), ``explain`` (methods and
their table), ``metrics`` (evaluation) and ``viz`` (pictures). ``import vidxai`` is light:
JAX is imported with the first stage that needs it.
"""
from .errors import (ArgumentError, ArgumentTypeError, ExplanationWarning, ScoreFunctionError,
                     SegmentationWarning, VideoFileError, VidxaiError)
from .explanation import Explanation
from .segment import Segmentation

__version__ = "0.2.0"

__all__ = ["ArgumentError", "ArgumentTypeError", "ExplanationWarning", "ScoreFunctionError",
           "SegmentationWarning",
           "VideoFileError", "VidxaiError", "Explanation", "Segmentation", "score_coalitions", "score",
           "__version__"]


def __getattr__(name):
    if name in ("score", "score_coalitions", "evaluate"):
        from . import scoring

        return getattr(scoring, name)
    raise AttributeError(f"module 'vidxai' has no attribute {name!r}")
