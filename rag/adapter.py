"""A linear map on question vectors, learned from questions whose answering passages are known.

MiniLM reads "What is the name of the third book?" as nearest the author's remark that
his trilogy is "the capstone of my work", not the paragraph on Volume 3; and questions
that name the powers by their capitals ("London", "the Kremlin") as far from paragraphs
that say "Britain" and "the USSR". Questions people ask of a text differ from the text's own sentences in ways a
linear map learns from a few hundred examples: the adapter moves a question's vector
towards the passages that answer questions like it, and is held close to the identity
so that what the questions never touch keeps its meaning (a sentence from elsewhere moves
far less than one of the interview's topics).

Only questions are mapped: passages keep the encoder's vectors, so the index does not
depend on the adapter. `python -m rag.calibrate` fits it, and fits the ranker and the
abstainer on questions it did not see, since a question the adapter was fitted on lands
closer to its answer than a new one will.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ADAPTER_FILE = Path(__file__).with_name("query_adapter.npz")
STRENGTH = 0.01  # pull towards the identity; 0.003 to 0.03 score alike held out (`calibrate` by file)
TEMPERATURE = 20.0  # sharpens cosines into a softmax over passages, as in contrastive training
STEPS = 200
LEARNING_RATE = 1e-3
MAX_CONDITION = 1e3  # the shipped map's is about 6; a near-singular one would merge distinct questions
REFIT = "python -m rag.calibrate tests/data/fresh*.jsonl --write"


class AdapterError(Exception):
    """The adapter file is missing, unreadable, or fitted for another model."""


@dataclass(frozen=True, eq=False)
class QueryAdapter:
    """question vector q -> unit(matrix @ q), for the encoder `model` (its name, as the index manifest gives it)."""

    matrix: np.ndarray  # (dim, dim), float32
    model: str

    @property
    def dim(self) -> int:
        return int(self.matrix.shape[0])

    def apply(self, vectors: np.ndarray) -> np.ndarray:
        """Rows of unit vectors, shape (n, dim), mapped and made unit length again (inner product stays cosine)."""
        mapped = vectors @ self.matrix.T
        norms = np.linalg.norm(mapped, axis=1, keepdims=True)
        return np.ascontiguousarray(mapped / np.where(norms > 0, norms, 1.0), dtype=np.float32)

    def save(self, path: Path = ADAPTER_FILE) -> None:
        """Written whole or not at all: a reader never sees half a file."""
        partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
        try:
            with partial.open("wb") as handle:
                np.savez(handle, matrix=self.matrix.astype(np.float32), model=np.array(self.model))
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)


def load_adapter(path: Path = ADAPTER_FILE) -> QueryAdapter:
    """The adapter saved at `path`; AdapterError saying what is wrong with the file otherwise."""
    if not path.is_file():
        raise AdapterError(f"no query adapter at {path}: run {REFIT}")
    if not zipfile.is_zipfile(path):
        raise AdapterError(f"the query adapter {path} is not a .npz archive: run {REFIT}")
    try:
        with np.load(path, allow_pickle=False) as saved:
            matrix, model = saved["matrix"], saved["model"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:  # truncated, or not ours
        raise AdapterError(f"the query adapter {path} is unreadable ({type(error).__name__}: {error})") from None
    if model.ndim != 0 or model.dtype.kind != "U":
        raise AdapterError(f"the query adapter {path} does not name its model")
    if (matrix.dtype.kind != "f" or matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]
            or not np.isfinite(matrix).all() or np.linalg.cond(matrix) > MAX_CONDITION):
        raise AdapterError(f"the query adapter {path} holds no usable square matrix of real numbers")
    return QueryAdapter(matrix.astype(np.float32), str(model))


def adapter_for(model: str, dim: int, path: Path = ADAPTER_FILE) -> QueryAdapter:
    """The saved adapter, if it was fitted for this encoder; AdapterError otherwise."""
    adapter = load_adapter(path)
    if adapter.model != model or adapter.dim != dim:
        raise AdapterError(f"the query adapter {path} was fitted for {adapter.model} ({adapter.dim} dimensions), "
                           f"not {model} ({dim})")
    return adapter


def fit_adapter(questions: np.ndarray, relevant: np.ndarray, units: np.ndarray, unit_passage: np.ndarray,
                candidates: np.ndarray, model: str, strength: float = STRENGTH) -> QueryAdapter:
    """The matrix that best ranks each question's relevant passages first among the `candidates`.

    questions: (n, dim) unit vectors as encoded; relevant: (n, passages) bool; units: (u, dim)
    the index's vectors; unit_passage: (u,) the passage of each; candidates: (passages,) bool,
    the passages that can be answers. A passage scores its best unit's cosine, as in retrieval.
    """
    import torch

    keep = relevant[:, candidates].any(axis=1)
    if not keep.any():  # nothing to learn from: questions stay as encoded
        return QueryAdapter(np.eye(questions.shape[1], dtype=np.float32), model)
    query = torch.from_numpy(np.ascontiguousarray(questions[keep], dtype=np.float32))
    wanted = torch.from_numpy(relevant[keep] & candidates)
    unit_vectors = torch.from_numpy(np.ascontiguousarray(units, dtype=np.float32))
    owner = torch.from_numpy(unit_passage.astype(np.int64)).expand(len(query), -1)
    excluded = torch.from_numpy(~candidates)
    identity = torch.eye(query.shape[1])
    matrix = identity.clone().requires_grad_(True)
    optimiser = torch.optim.Adam([matrix], lr=LEARNING_RATE)
    for _ in range(STEPS):
        mapped = torch.nn.functional.normalize(query @ matrix.T, dim=1)
        per_passage = torch.full((len(query), len(candidates)), -1.0).scatter_reduce(
            1, owner, mapped @ unit_vectors.T, reduce="amax", include_self=True)
        logits = (TEMPERATURE * per_passage).masked_fill(excluded, -1e4)
        # -log of the probability mass on the passages that answer: any of them will do.
        loss = (torch.logsumexp(logits, 1) - torch.logsumexp(logits.masked_fill(~wanted, -1e4), 1)).mean()
        loss = loss + strength * ((matrix - identity) ** 2).sum()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return QueryAdapter(matrix.detach().numpy().astype(np.float32), model)
