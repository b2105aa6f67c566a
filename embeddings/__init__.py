"""Turn passages' texts into vectors and keep them in a FAISS index with its manifest.

This package knows nothing of documents or citations: it is handed texts and a
corpus hash by `rag`, and hands back a searchable index.
"""

from .encoder import DEFAULT_MODEL, Encoder, resolve_model
from .store import IndexStore, IndexStoreError, Manifest, VectorIndex

__all__ = ["DEFAULT_MODEL", "Encoder", "IndexStoreError", "IndexStore", "Manifest", "VectorIndex", "resolve_model"]
