"""Tokenizer backends behind one small protocol (`base.Tokenizer`), looked up by name in `registry`."""

from koprep.tokenizers.base import BackendOptionError, BackendUnavailable, Tagged, Tokenizer
from koprep.tokenizers.registry import available_backends, get_tokenizer, register_backend

__all__ = [
    "BackendOptionError",
    "BackendUnavailable",
    "Tagged",
    "Tokenizer",
    "available_backends",
    "get_tokenizer",
    "register_backend",
]
