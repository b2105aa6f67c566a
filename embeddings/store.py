"""The FAISS index on disk, with a manifest that says what it was built from.

Beside the index lies the ONNX export of the model's transformer, which encodes
questions without torch (onnx_encoder.py); the manifest covers both files. An index
is used only when its manifest matches what is asked for (format, model, the exact
texts), each file's checksum matches the manifest, and the questions' vectors have
the index's dimension; anything else (missing, truncated, corrupt, stale, another
model) is rebuilt with a one-line notice. A rebuild for a changed corpus keeps the
intact export of the same model files (same fingerprint), so only a new model pays
for a new export.
Files are written to a temporary name and renamed, and builds hold a lock, so a
killed or concurrent build never leaves a half-written index in use.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import secrets
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .encoder import Encoder

FORMAT_VERSION = 2
INDEX_FILE = "index.faiss"
QUERY_MODEL_FILE = "query-encoder.onnx"
MANIFEST_FILE = "manifest.json"
PROGRESS_FROM = 256  # show a progress bar for builds at least this many texts long
# Exact search scans every vector: about 7 ms per 100k on one core here, so past 200k it costs
# more than encoding the question does; an inverted file takes over (docs/scaling.md has the figures).
EXACT_UP_TO = 200_000
IVF_PROBES = 64  # lists searched per query: recall@10 0.96 against exact at 550k vectors, a few ms
IVF_TRAIN_PER_LIST = 64  # k-means sample per list: enough for stable centroids, cheap to train


class IndexStoreError(Exception):
    """The index cannot be built or used; the message says why."""


@dataclass(frozen=True)
class Manifest:
    format_version: int
    model: str
    dim: int
    # What was embedded, in order: changes when the corpus's text or the unit recipe does, and only then (a
    # document's title or example questions in its meta.json are not embedded, so editing them keeps the index).
    texts_hash: str
    count: int  # vectors in the index
    passages: int  # passages they belong to
    built_at: str
    index_sha256: str
    index_bytes: int
    # The ONNX query encoder; "" and 0 when the model could not be exported (questions then use torch).
    query_model_sha256: str = ""
    query_model_bytes: int = 0
    query_model_source: str = ""  # model_fingerprint() of the model files it was exported from


# Read by name, so a manifest written with fields since dropped (its corpus hash) still loads.
MANIFEST_FIELDS = tuple(Manifest.__dataclass_fields__)


@dataclass
class VectorIndex:
    """A loaded FAISS index; rows are in the order of the texts it was built from."""

    faiss_index: object
    manifest: Manifest

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Cosine scores and row numbers of the k nearest rows, best first, per query row."""
        k = max(1, min(k, self.manifest.count))
        return self.faiss_index.search(np.ascontiguousarray(queries, dtype=np.float32), k)

    def vectors(self) -> np.ndarray:
        """All stored vectors, for scoring a chosen few rows exactly."""
        return self.faiss_index.reconstruct_n(0, self.manifest.count)

    def rows(self, numbers: np.ndarray) -> np.ndarray:
        """The stored vectors of these rows only (an IVF index keeps a direct map for this)."""
        return self.faiss_index.reconstruct_batch(np.asarray(numbers, dtype=np.int64))


def build_faiss_index(vectors: np.ndarray, approximate: bool | None = None):
    """A FAISS inner-product index over `vectors`: exact up to EXACT_UP_TO rows, an IVF index past that.

    `approximate` forces the choice (the bench compares both at every size). The IVF
    index has about 2·sqrt(n) lists, k-means trained with FAISS's fixed seed (so the
    same vectors give the same index), keeps a direct map so stored vectors can be read
    back, and saves IVF_PROBES as its search setting.
    """
    import faiss

    count, dim = vectors.shape
    if not (count > EXACT_UP_TO if approximate is None else approximate):
        index = faiss.IndexFlatIP(dim)
        index.add(vectors)
        return index
    lists = max(1, min(int(2 * count ** 0.5), count // 39))  # FAISS wants 39+ training points per list
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, lists, faiss.METRIC_INNER_PRODUCT)
    index.cp.max_points_per_centroid = IVF_TRAIN_PER_LIST
    index.train(vectors)
    index.add(vectors)
    index.make_direct_map()
    index.nprobe = min(IVF_PROBES, lists)
    return index


def texts_hash(texts: list[str]) -> str:
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8", "surrogatepass") + b"\0")
    return digest.hexdigest()


def file_problem(what: str, path: Path, size: int, sha256: str) -> str | None:
    """Why the file at `path` is not the one the manifest recorded, or None."""
    if not path.exists():
        return f"{what} is missing"
    if path.stat().st_size != size or file_sha256(path) != sha256:
        return f"{what} is truncated or corrupt"
    return None


def model_fingerprint(folder: Path) -> str:
    """A digest of every file of a model: it changes when the model behind a name does."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(f"{path.relative_to(folder)}\0{file_sha256(path)}\0".encode())
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class IndexStore:
    """One index folder: load what matches, build what doesn't."""

    def __init__(self, directory: Path, notice: Callable[[str], None] = print):
        self.directory = Path(directory)
        self.notice = notice

    @property
    def manifest_path(self) -> Path:
        return self.directory / MANIFEST_FILE

    @property
    def index_path(self) -> Path:
        return self.directory / INDEX_FILE

    @property
    def query_model_path(self) -> Path:
        return self.directory / QUERY_MODEL_FILE

    def read_manifest(self) -> Manifest | None:
        try:
            data = json.loads(self.manifest_path.read_text(encoding="utf-8"))
            return Manifest(**{name: data[name] for name in MANIFEST_FIELDS if name in data})
        except (OSError, ValueError, TypeError):
            return None

    def problem(self, *, model: str, texts: list[str]) -> str | None:
        """Why the index on disk can't serve these texts with this model, or None when it may (see `_ready`)."""
        manifest = self.read_manifest()
        if manifest is None:
            return "no index yet" if not self.manifest_path.exists() else "the manifest is unreadable"
        if manifest.format_version != FORMAT_VERSION:
            return f"it has format {manifest.format_version}, this code needs {FORMAT_VERSION}"
        if manifest.model != model:
            return f"it was built with model {manifest.model}, the setting is {model}"
        if manifest.texts_hash != texts_hash(texts):
            return "the corpus changed"
        damage = file_problem("the index file", self.index_path, manifest.index_bytes, manifest.index_sha256)
        return damage or self.query_model_problem(manifest)

    def query_model_problem(self, manifest: Manifest) -> str | None:
        """Why the ONNX query encoder named by `manifest` can't be used, or None (also when there is none)."""
        if not manifest.query_model_bytes:
            return None
        return file_problem("the ONNX query encoder", self.query_model_path, manifest.query_model_bytes,
                            manifest.query_model_sha256)

    def load_or_build(self, *, encoder: Encoder, texts: list[str], passages: int,
                      rebuild: bool = False) -> VectorIndex:
        """The index for exactly these texts, built (and saved) first when needed."""
        if not texts:
            raise IndexStoreError("nothing to index: no passage in the corpus can be an answer")
        wanted = dict(model=encoder.name, texts=texts)
        index, problem = (None, "rebuild requested") if rebuild else self._ready(encoder, wanted)
        if index is not None:
            return index
        with self._lock():
            if not rebuild:  # another process may have built it while we waited for the lock
                index, problem = self._ready(encoder, wanted)
                if index is not None:
                    return index
            self._remove_leftovers()
            self.notice(f"building the index ({problem}): {len(texts)} texts with {encoder.name}")
            index = self._build(encoder, texts, passages, keep_query_model=not rebuild)
            if self._attach(encoder, index) is not None:
                raise IndexStoreError(f"the index built in {self.directory} does not match its own query encoder")
            return index

    def _ready(self, encoder: Encoder, wanted: dict) -> tuple[VectorIndex | None, str | None]:
        """The index on disk with the encoder set up for its questions, or None and why it must be rebuilt."""
        problem = self.problem(**wanted)
        if problem is not None:
            return None, problem
        index = self._load()
        if index is None:
            return None, "the index file does not match its manifest"
        problem = self._attach(encoder, index)
        return (None, problem) if problem else (index, None)

    def _attach(self, encoder: Encoder, index: VectorIndex) -> str | None:
        """Hand the index's ONNX export to the encoder; why questions can't be compared with the index, or None.

        The export was made with the index, so its vectors match by construction; without one, questions
        go through the model files as they are now, which may have changed behind the same name.
        """
        encoder.use_onnx(self.query_model_path if index.manifest.query_model_bytes else None, self.notice)
        if encoder.query_dim != index.manifest.dim:
            return f"it holds {index.manifest.dim}-dimensional vectors, model {encoder.name} gives {encoder.query_dim}"
        return None

    def _load(self) -> VectorIndex | None:
        """The index on disk, or None when its vectors are not the ones its manifest counts (a hand-edited
        manifest, or a rebuild by another process between the two reads): it is then rebuilt under the lock."""
        import faiss

        manifest = self.read_manifest()
        faiss_index = faiss.read_index(str(self.index_path))
        if manifest is None or faiss_index.ntotal != manifest.count or faiss_index.d != manifest.dim:
            return None
        return VectorIndex(faiss_index, manifest)

    def _build(self, encoder: Encoder, texts: list[str], passages: int,
               keep_query_model: bool) -> VectorIndex:
        import faiss

        started = time.time()
        previous = self.read_manifest() if keep_query_model else None
        # A bar is for someone watching; in a log or a pipe it is a run of carriage returns.
        vectors = encoder.encode(texts, progress=len(texts) >= PROGRESS_FROM and sys.stderr.isatty())
        faiss_index = build_faiss_index(vectors)
        self.directory.mkdir(parents=True, exist_ok=True)
        with self._temporary(INDEX_FILE) as tmp:
            faiss.write_index(faiss_index, str(tmp))
            digest, size = file_sha256(tmp), tmp.stat().st_size
            os.replace(tmp, self.index_path)
        query_model = self._query_model(encoder, previous)
        manifest = Manifest(format_version=FORMAT_VERSION, model=encoder.name, dim=int(vectors.shape[1]),
                            texts_hash=texts_hash(texts), count=len(texts),
                            passages=passages, built_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                            index_sha256=digest, index_bytes=size, **query_model)
        with self._temporary(MANIFEST_FILE) as tmp:
            tmp.write_text(json.dumps(asdict(manifest), indent=2), encoding="utf-8")
            os.replace(tmp, self.manifest_path)
        self.notice(f"index built in {time.time() - started:.1f}s: {len(texts)} vectors, {size / 1024:.0f} KiB "
                    f"in {self.directory}")
        return VectorIndex(faiss_index, manifest)

    def _query_model(self, encoder: Encoder, previous: Manifest | None) -> dict:
        """The ONNX query encoder's manifest fields: the intact export of the same model files kept, else a new one."""
        from .onnx_export import ExportError

        source = model_fingerprint(encoder.path)
        if (previous is not None and previous.query_model_bytes and previous.query_model_source == source
                and self.query_model_problem(previous) is None):
            return dict(query_model_sha256=previous.query_model_sha256, query_model_bytes=previous.query_model_bytes,
                        query_model_source=source)
        try:
            data = encoder.export_onnx()
        except ExportError as error:
            self.notice(f"questions will be encoded with torch: {error}")
            self.query_model_path.unlink(missing_ok=True)
            return {}
        with self._temporary(QUERY_MODEL_FILE) as tmp:
            tmp.write_bytes(data)
            os.replace(tmp, self.query_model_path)
        return dict(query_model_sha256=hashlib.sha256(data).hexdigest(), query_model_bytes=len(data),
                    query_model_source=source)

    def _remove_leftovers(self) -> None:
        """Temporary files of a build that was killed before its rename; only called under the lock."""
        for leftover in self.directory.glob(".*.tmp"):
            leftover.unlink(missing_ok=True)

    @contextmanager
    def _temporary(self, name: str):
        """A temporary file beside `name`, removed if the write fails before its rename. Created with the
        umask's permissions, as any file the user writes (mkstemp's owner-only mode would keep an index
        built by one account from being served by another)."""
        tmp_path = self.directory / f".{name}.{secrets.token_hex(8)}.tmp"
        tmp_path.touch(exist_ok=False)
        try:
            yield tmp_path
        finally:
            tmp_path.unlink(missing_ok=True)

    @contextmanager
    def _lock(self):
        """One builder at a time per folder; others wait, then find the index built."""
        if self.directory.exists() and not self.directory.is_dir():
            raise IndexStoreError(f"the index folder {self.directory} is a file: set RAG_INDEX_DIR to a folder")
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.directory / ".lock", "w") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)
