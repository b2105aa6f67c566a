"""Synthetic corpora for the scale benchmark: the interview's words recombined, their vectors composed.

Each synthetic sentence is stitched from the start, middle and end thirds of three
interview sentences picked with a fixed seed; an interviewer question of one such
sentence is followed by 1-4 answer paragraphs of 2-7 sentences, written as interview
files that the real parser reads. The same seed always gives the same corpus.

Encoding the ~500k texts of a 100k-passage corpus with MiniLM on two cores would take
hours, so each third ("piece") is encoded once and a text's vector is the normalised,
word-count-weighted sum of its pieces' vectors (MiniLM mean-pools its token vectors,
so this approximates the real embedding; `rag bench` measures how closely on a
sample). Sizes, memory and search times don't depend on it; approximate search's
recall does, somewhat.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from embeddings import Encoder

from .corpus import Corpus

SEED = 20221201
PASSAGES_PER_FILE = 2000  # ~1.2 MB files, well under the parser's 20 MiB limit
MIN_WORDS = 6  # shorter sentences make thirds too small to recombine
COMPOSE_CHUNK = 20_000  # texts composed per numpy batch: bounds the temporary memory
INTERVIEWER = "The Postil (TP)"
GUEST = "Michael Jabara Carley (MJC)"


def source_sentences(corpus: Corpus, limit: int | None = None) -> list[list[str]]:
    """The corpus's sentences, as words, that open with a capital and close a sentence; no repeats."""
    seen, sentences = set(), []
    for passage in corpus.passages:
        for start, end in passage.sentences or ((0, len(passage.text)),):
            words = passage.text[start:end].split()
            key = " ".join(words)
            if len(words) >= MIN_WORDS and words[0][0].isupper() and words[-1][-1] in ".?!" and key not in seen:
                seen.add(key)
                sentences.append(words)
    return sentences[:limit]


def split_thirds(sentences: list[list[str]]) -> tuple[list[str], list[str], list[str]]:
    """Each sentence's start, middle and end, as three lists of the same length."""
    thirds: tuple[list[str], list[str], list[str]] = ([], [], [])
    for words in sentences:
        a, b = len(words) // 3, 2 * len(words) // 3
        for part, chunk in zip(thirds, (words[:a], words[a:b], words[b:])):
            part.append(" ".join(chunk))
    return thirds


def write_corpus(directory: Path, passages: int, thirds: tuple[list[str], list[str], list[str]],
                 seed: int = SEED) -> None:
    """`passages` answer paragraphs in interview files under `directory`, reproducibly."""
    rng = random.Random(seed)  # noqa: S311 - reproducible synthetic text, not a secret
    starts, middles, ends = thirds
    directory.mkdir(parents=True, exist_ok=True)

    def sentence() -> str:
        return f"{rng.choice(starts)} {rng.choice(middles)} {rng.choice(ends)}"

    written, number = 0, 0
    while written < passages:
        number += 1
        paragraphs, in_file = [], 0
        while in_file < PASSAGES_PER_FILE and written + in_file < passages:
            asker = INTERVIEWER if not paragraphs else "TP"
            paragraphs.append(f"**{asker}:** {sentence()}")
            for answer in range(min(rng.randint(1, 4), passages - written - in_file)):
                text = " ".join(sentence() for _ in range(rng.randint(2, 7)))
                guest = GUEST if in_file == 0 else "MJC"
                paragraphs.append(f"**{guest}:** {text}" if answer == 0 else text)
                in_file += 1
        stem = f"synthetic-{number:04d}"
        (directory / f"{stem}.md").write_text("\n\n".join(paragraphs) + "\n", encoding="utf-8")
        meta = {"title": f"Synthetic interview {number}", "short_title": f"Synthetic {number}", "interviewer": "TP"}
        (directory / f"{stem}.meta.json").write_text(json.dumps(meta), encoding="utf-8")
        written += in_file


class Composer(Encoder):
    """The Encoder, but texts to index are composed from known pieces' vectors, not encoded.

    A text is split greedily into the longest known pieces; a word no piece covers is
    encoded on its own by the real model (loaded only if needed). Everything else —
    questions, the ONNX export, the model's identity in the manifest — is the real Encoder's.
    """

    def __init__(self, pieces: list[str], vectors: np.ndarray, name: str):
        super().__init__(name)  # the model the piece vectors came from
        self.matrix = np.asarray(vectors, dtype=np.float32)
        self.by_first: dict[str, list[tuple[list[str], int]]] = {}
        for number, piece in enumerate(pieces):
            words = piece.split()
            self.by_first.setdefault(words[0], []).append((words, number))
        for candidates in self.by_first.values():
            candidates.sort(key=lambda pair: -len(pair[0]))
        self.words: dict[str, int] = {}  # words encoded by the real model so far, by row
        self.unknown_words = 0
        self.seconds = 0.0

    @property
    def dim(self) -> int:
        """The pieces' dimension, known without loading the real model."""
        return int(self.matrix.shape[1])

    def decompose(self, words: list[str]) -> list[tuple[int | str, int]]:
        """(piece row or unknown word, weight in words), left to right."""
        parts, i = [], 0
        while i < len(words):
            for piece, row in self.by_first.get(words[i], ()):
                if words[i:i + len(piece)] == piece:
                    parts.append((row, len(piece)))
                    i += len(piece)
                    break
            else:
                parts.append((words[i], 1))
                i += 1
        return parts

    def encode(self, texts: Iterable[str], progress: bool = False, batch_size: int = 32) -> np.ndarray:
        """Unit vectors, one row per text, like Encoder.encode."""
        started = time.perf_counter()
        texts = list(texts)
        out = np.empty((len(texts), self.matrix.shape[1]), dtype=np.float32)
        for first in range(0, len(texts), COMPOSE_CHUNK):
            chunk = [self.decompose(text.split()) for text in texts[first:first + COMPOSE_CHUNK]]
            self._learn_words({key for parts in chunk for key, _ in parts if isinstance(key, str)})
            rows = [key if isinstance(key, int) else self.words[key] for parts in chunk for key, _ in parts]
            weights = np.array([weight for parts in chunk for _, weight in parts], dtype=np.float32)
            offsets = np.cumsum([0] + [len(parts) for parts in chunk[:-1]])
            sums = np.add.reduceat(self.matrix[rows] * weights[:, None], offsets)
            out[first:first + len(chunk)] = sums / np.linalg.norm(sums, axis=1, keepdims=True)
        self.seconds += time.perf_counter() - started
        return out

    def _learn_words(self, words: set[str]) -> None:
        new = sorted(words - self.words.keys())
        if not new:
            return
        self.unknown_words += len(new)
        self.words.update({word: len(self.matrix) + n for n, word in enumerate(new)})
        self.matrix = np.vstack([self.matrix, super().encode(new)])
