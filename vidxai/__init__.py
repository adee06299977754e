"""vidxai: explain video models, JAX-native.

Stages (paper 001's removal-based framework): ``io`` (read/write video), ``segment``
(features), ``sampling`` (coalitions), ``removal`` (what replaces removed features),
``scoring`` (batched model evaluation), ``surrogate`` (summaries), ``explain`` (methods),
``metrics`` (evaluation) and ``viz`` (pictures).
"""
from .errors import (ArgumentError, ArgumentTypeError, ScoreFunctionError, VideoFileError,
                     VidxaiError)
from .explanation import Explanation
from .scoring import evaluate, score
from .segment import Segmentation

__version__ = "0.1.0"

__all__ = ["ArgumentError", "ArgumentTypeError", "ScoreFunctionError", "VideoFileError",
           "VidxaiError", "Explanation", "Segmentation", "evaluate", "score", "__version__"]
