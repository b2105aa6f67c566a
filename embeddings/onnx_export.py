"""Export a sentence-transformers model's transformer to ONNX, for the torch-free query path.

Runs at build time, when torch is loaded anyway. The export is refused unless the
ONNX encoder reproduces the torch encoder (cosine >= MIN_COSINE on probe texts of
every length, padded in one batch and truncated past the token limit), so a model
that pools another way simply keeps answering with torch.
"""

from __future__ import annotations

import inspect
import io
import warnings

import numpy as np

from .onnx_encoder import LOWERCASE_KEY, MAX_TOKENS_KEY, TOKENIZER_KEY, OnnxEncoder

MIN_COSINE = 0.9999
OPSET = 17
PROBES = [
    "Who was Litvinov?",
    "Why did the Anglo-French-Soviet negotiations of 1939 fail?",
    "Poland signed a non-aggression pact with Nazi Germany in January 1934.",
    "a",
    "Collective security " * 200,  # past the token limit: the truncation must match too
]


class ExportError(Exception):
    """The model could not be exported, or the export does not match torch; the message says which."""


def export(sentence_model) -> bytes:
    """The ONNX file for `sentence_model` (a loaded SentenceTransformer), checked against it."""
    first = sentence_model[0]
    transformer, tokenizer = getattr(first, "auto_model", None), getattr(first, "tokenizer", None)
    if transformer is None or not getattr(tokenizer, "is_fast", False):
        raise ExportError("the model has no Hugging Face transformer with a fast tokenizer")
    try:
        graph = _trace(transformer)
        data = _with_metadata(graph, {
            TOKENIZER_KEY: tokenizer.backend_tokenizer.to_str(),
            MAX_TOKENS_KEY: str(int(sentence_model.max_seq_length)),
            LOWERCASE_KEY: "1" if getattr(first, "do_lower_case", False) else "0",
        })
        onnx_vectors = OnnxEncoder(data).encode(PROBES)
    except Exception as error:  # an optional speed-up must never break the build
        raise ExportError(f"the ONNX export failed ({type(error).__name__}: {error})") from error
    torch_vectors = sentence_model.encode(PROBES, convert_to_numpy=True, normalize_embeddings=True)
    worst = float(np.min(np.sum(onnx_vectors * torch_vectors, axis=1)))
    if worst < MIN_COSINE:
        raise ExportError(f"the ONNX export does not match torch (cosine {worst:.6f} < {MIN_COSINE})")
    return data


def _trace(transformer) -> bytes:
    """torch.onnx.export of the transformer, taking its inputs by keyword, batch and length dynamic."""
    import torch

    names = [n for n in ("input_ids", "attention_mask", "token_type_ids")
             if n in inspect.signature(transformer.forward).parameters]

    class KeywordInputs(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, *inputs):
            return self.model(**dict(zip(names, inputs))).last_hidden_state

    # Two rows, one padded: the traced graph keeps the attention-mask path.
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    sample = {"input_ids": mask * torch.arange(1, 6), "attention_mask": mask, "token_type_ids": torch.zeros_like(mask)}
    axes = {name: {0: "batch", 1: "tokens"} for name in [*names, "last_hidden_state"]}
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer and deprecation chatter about code paths we do not take
        torch.onnx.export(KeywordInputs(transformer.eval()), tuple(sample[n] for n in names), buffer,
                          input_names=names, output_names=["last_hidden_state"], dynamic_axes=axes,
                          opset_version=OPSET, dynamo=False)
    return buffer.getvalue()


def _with_metadata(graph: bytes, metadata: dict[str, str]) -> bytes:
    import onnx

    model = onnx.load_from_string(graph)
    for key, value in metadata.items():
        model.metadata_props.add(key=key, value=value)
    return model.SerializeToString()
