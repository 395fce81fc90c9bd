"""The learned field ranker on top of the rules (see :mod:`.model`, :mod:`.features`);
training helpers in :mod:`.training` (imported by the commands only)."""

from .features import RANKED_FIELDS, Candidate, document_candidates
from .model import MODEL_PATH, MODEL_VERSION, FieldRanker, TrainingRows, default_ranker

__all__ = [
    "MODEL_PATH",
    "MODEL_VERSION",
    "RANKED_FIELDS",
    "Candidate",
    "FieldRanker",
    "TrainingRows",
    "default_ranker",
    "document_candidates",
]
