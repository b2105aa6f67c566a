"""Citation-first question answering over interviews: every answer is the source's own words."""

from .corpus import CorpusError
from .engine import Engine, QuestionError, load
from .records import Answer, Citation, Document, Passage, Result

__all__ = ["Answer", "Citation", "CorpusError", "Document", "Engine", "Passage", "QuestionError", "Result", "load"]
