"""Questions encoded without torch: the model's transformer as ONNX, run by onnxruntime.

Importing sentence-transformers takes ~11 s here (torch, transformers, scikit-learn);
onnxruntime and tokenizers import in ~0.1 s and encode a question in a few
milliseconds. The ONNX file is self-contained: besides the graph, its metadata
holds the tokenizer and the recipe (token limit, lower-casing) it was exported
with, so it cannot drift from the model it came from. Pooling is the mean over
the attention mask, then L2 normalisation, as sentence-transformers does; the
export (onnx_export.py) checks the match before the file is kept.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

# Metadata keys written by the export and read back here.
TOKENIZER_KEY = "rag.tokenizer"
MAX_TOKENS_KEY = "rag.max_tokens"
LOWERCASE_KEY = "rag.lowercase"
# One thread: on the 2 shared cores here, a second one made questions slower, not faster
# (p50 4.7 vs 3.9 ms for a short question, 63 vs 58 ms for 1,200 characters).
THREADS = 1


class OnnxEncoder:
    """Mean-pooled, unit-length sentence vectors from an ONNX export; no torch."""

    def __init__(self, model: Path | bytes, threads: int = THREADS):
        import onnxruntime
        from tokenizers import Tokenizer

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only: the export's warnings are not the user's concern
        source = model if isinstance(model, bytes) else str(model)
        self.session = onnxruntime.InferenceSession(source, options, providers=["CPUExecutionProvider"])
        meta = self.session.get_modelmeta().custom_metadata_map
        missing = {TOKENIZER_KEY, MAX_TOKENS_KEY, LOWERCASE_KEY} - set(meta)
        if missing:
            raise ValueError(f"the ONNX file lacks {', '.join(sorted(missing))}: it was not written by this export")
        self.tokenizer = Tokenizer.from_str(meta[TOKENIZER_KEY])
        self.tokenizer.enable_truncation(int(meta[MAX_TOKENS_KEY]))
        self.tokenizer.enable_padding()  # to the longest in the batch; padding is masked out below
        self.lowercase = meta[LOWERCASE_KEY] == "1"
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.dim = int(self.session.get_outputs()[0].shape[-1])

    def encode(self, texts: list[str]) -> np.ndarray:
        """float32 unit vectors, one row per text, as the torch encoder gives them."""
        texts = [t.strip().lower() if self.lowercase else t.strip() for t in texts]
        encodings = self.tokenizer.encode_batch(texts)
        feed = {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }
        tokens = self.session.run(None, {k: v for k, v in feed.items() if k in self.inputs})[0]
        mask = feed["attention_mask"][..., None].astype(np.float32)
        pooled = (tokens * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
        pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        return np.ascontiguousarray(pooled, dtype=np.float32)
