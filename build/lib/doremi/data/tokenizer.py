"""Tokenizers: byte-level (default, no downloads), BPE trained on the corpus, or pretrained.

Every tokenizer ends each document with an end-of-document id (`eod_id`) and has an
identity (kind, vocab size, hash of vocabulary and special tokens) that the manifest
records and later stages check.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

import numpy as np

from doremi.config.errors import DoremiError

EOD_TOKEN = "<|endoftext|>"
_BYTE_FALLBACK = re.compile(r"<0x[0-9A-Fa-f]{2}>")


class Tokenizer(Protocol):
    kind: str
    vocab_size: int
    eod_id: int

    def encode_batch(self, texts: list[str]) -> list[np.ndarray]: ...

    def decode(self, ids: list[int]) -> str: ...

    def identity(self) -> dict: ...

    def save(self, directory: Path) -> None: ...

    def token_bytes(self) -> np.ndarray: ...


class ByteTokenizer:
    """UTF-8 bytes are ids 0..255; 256 ends a document."""

    kind = "byte"
    vocab_size = 257
    eod_id = 256

    def encode_batch(self, texts: list[str]) -> list[np.ndarray]:
        return [np.frombuffer(text.encode("utf-8", "surrogatepass"), dtype=np.uint8) for text in texts]

    def decode(self, ids: list[int]) -> str:
        return bytes(i for i in ids if i < 256).decode("utf-8", errors="replace")

    def identity(self) -> dict:
        digest = hashlib.sha256(b"byte-utf8+eod256").hexdigest()[:16]
        return {"kind": self.kind, "vocab_size": self.vocab_size, "hash": digest}

    def save(self, directory: Path) -> None:
        (Path(directory) / "tokenizer.json").write_text(json.dumps({"kind": "byte"}))

    def token_bytes(self) -> np.ndarray:
        """UTF-8 bytes each id stands for: 1 for every byte, 0 for the end-of-document id."""
        out = np.ones(self.vocab_size, dtype=np.float64)
        out[self.eod_id] = 0
        return out


class HFTokenizer:
    """A `tokenizers` tokenizer (trained BPE or pretrained), with an end-of-document token."""

    def __init__(self, tokenizer, kind: str):
        self._tok = tokenizer
        self.kind = kind
        eod = tokenizer.token_to_id(EOD_TOKEN)
        if eod is None:
            tokenizer.add_special_tokens([EOD_TOKEN])
            eod = tokenizer.token_to_id(EOD_TOKEN)
        self.eod_id = eod
        self.vocab_size = tokenizer.get_vocab_size(with_added_tokens=True)

    def encode_batch(self, texts: list[str]) -> list[np.ndarray]:
        # `tokenizers` runs a batch on all cores (Rust threads).
        encodings = self._tok.encode_batch(texts, add_special_tokens=False)
        return [np.asarray(enc.ids, dtype=np.uint32) for enc in encodings]

    def decode(self, ids: list[int]) -> str:
        return self._tok.decode(ids)

    def identity(self) -> dict:
        vocab = sorted(self._tok.get_vocab(with_added_tokens=True).items())
        digest = hashlib.sha256(json.dumps([vocab, EOD_TOKEN]).encode()).hexdigest()[:16]
        return {"kind": self.kind, "vocab_size": self.vocab_size, "hash": digest}

    def save(self, directory: Path) -> None:
        self._tok.save(str(Path(directory) / "tokenizer.json"))

    def token_bytes(self) -> np.ndarray:
        """UTF-8 bytes each id stands for (0 for special tokens), for bits per byte.

        Byte-level vocabularies (GPT-2 style) spell every byte as one character, so a token's
        bytes are its characters; byte-fallback tokens (<0x41>) are one byte; other tokens
        are their text with the word-start mark read as a space.
        """
        byte_level = "ByteLevel" in json.dumps(json.loads(self._tok.to_str()).get("decoder") or {})
        special = {t.content for t in self._tok.get_added_tokens_decoder().values() if t.special}
        out = np.zeros(self.vocab_size, dtype=np.float64)
        for token, index in self._tok.get_vocab(with_added_tokens=True).items():
            if token in special or index >= self.vocab_size:
                continue
            if _BYTE_FALLBACK.fullmatch(token):
                out[index] = 1
            elif byte_level:
                out[index] = len(token)
            else:
                out[index] = len(token.replace("\u2581", " ").encode("utf-8"))
        return out


def train_bpe(texts: Iterable[str], vocab_size: int) -> HFTokenizer:
    """Byte-level BPE trained with the `tokenizers` library on a sample of the corpus."""
    from tokenizers import Tokenizer as RustTokenizer
    from tokenizers import decoders, models, pre_tokenizers, trainers

    tok = RustTokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOD_TOKEN],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return HFTokenizer(tok, "bpe")


def load_pretrained(path_or_name: str, key: str = "tokenizer.path") -> HFTokenizer:
    """A `tokenizer.json` file, or a tokenizer name on the Hugging Face hub (needs internet); an error names `key`,
    the setting that gave it."""
    from tokenizers import Tokenizer as RustTokenizer

    try:
        if Path(path_or_name).exists():
            tok = RustTokenizer.from_file(str(path_or_name))
        else:
            tok = RustTokenizer.from_pretrained(path_or_name)
    except Exception as err:  # tokenizers raises plain Exceptions with long messages
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise DoremiError(
            f"{key}={path_or_name}: could not load a tokenizer ({first}); give a tokenizer.json file or a hub name"
        ) from None
    return HFTokenizer(tok, "pretrained")


def load_saved(directory: Path, kind: str) -> Tokenizer:
    """The tokenizer a prepare stage saved into its run directory."""
    if kind == "byte":
        return ByteTokenizer()
    tok = load_pretrained(str(Path(directory) / "tokenizer.json"))
    tok.kind = kind
    return tok
