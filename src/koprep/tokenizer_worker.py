"""What runs inside a supervised tokenizer worker process (`koprep.supervised` starts and watches it).

A spawned worker imports this module, the backend's and the token filter's (pydantic): nothing else
of koprep, and not pyarrow, numpy or pandas. Every worker pays its imports before its first batch,
on a core the other workers need, where a process running the bare analyser imports only the
analyser; so the answers travel as plain buffers (`encode_tokens`) that the parent wraps into an
Arrow array without copying (`koprep.supervised.decode_tokens`).

The worker receives on a thread of its own (`_receive`), so the parent can hand it the next batch
while it still works on the current one and it never waits for its next batch; the parent's send
never blocks on a worker that is itself blocked sending an answer, because that thread keeps reading.
"""

from __future__ import annotations

import os
import queue
import signal
import sys
import threading
from array import array
from itertools import accumulate
from multiprocessing.connection import Connection
from typing import Any

from koprep.stages import tokenize as tokenize_logic
from koprep.tokenizers.base import Tokenizer

FATAL_EXIT = 70
"""A worker's exit status after an error that leaves its analyser unusable (Java's OutOfMemoryError)."""
WARM_UP_TEXT = "준비 운동"

EncodedTokens = tuple[int, bytes, bytes, bytes]
"""Documents' token lists as Arrow's list<string> buffers: (documents, the documents' int32 offsets
into the tokens, the tokens' int32 offsets into the data, the UTF-8 data)."""


def encode_tokens(documents: list[list[str]]) -> EncodedTokens:
    """`documents` as the buffers of an Arrow list<string> array, built without pyarrow."""
    encoded = [token.encode("utf-8") for tokens in documents for token in tokens]
    document_offsets = array("i", accumulate(map(len, documents), initial=0))
    token_offsets = array("i", accumulate(map(len, encoded), initial=0))
    return len(documents), document_offsets.tobytes(), token_offsets.tobytes(), b"".join(encoded)


def _tokenize(tokenizer: Tokenizer, texts: list[str], token_filter: tokenize_logic.TokenFilter) -> EncodedTokens:
    return encode_tokens(tokenize_logic.tokenize_texts(tokenizer, texts, token_filter))


def is_fatal(error: BaseException) -> bool:
    """Errors after which the analyser in this process cannot be trusted: the worker exits, and its
    batch is retried in isolation like a crash's. JPype raises Java's errors under their Java names."""
    names = {cls.__name__ for cls in type(error).__mro__}
    return isinstance(error, MemoryError) or any(
        name.endswith(("OutOfMemoryError", "StackOverflowError", "java.lang.Error")) for name in names
    )


def _send_error(conn: Connection, error: BaseException) -> None:
    try:
        conn.send(("error", error))
    except Exception:  # noqa: BLE001 - an exception that does not pickle (a Java one) goes as its text
        conn.send(("error", RuntimeError(f"{type(error).__name__}: {error}")))


def _receive(conn: Connection, inbox: queue.SimpleQueue[Any]) -> None:
    """Move the parent's messages into `inbox` as they come; None (stop) when the pipe closes."""
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            message = None
        inbox.put(message)
        if message is None:
            return


def serve(conn: Connection, tokenizer: Tokenizer, token_filter: tokenize_logic.TokenFilter) -> None:
    """A worker process: load the analyser, then answer batches until told to stop (None).

    A batch is (one by one, texts): answered by ("done", tokens), or in isolation by one
    ("document", tokens) per text and then ("done", None)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it stops the workers
    try:
        _tokenize(tokenizer, [WARM_UP_TEXT], token_filter)
    except Exception as exc:  # noqa: BLE001 - the parent re-raises it
        _send_error(conn, exc)
        return
    conn.send(("ready", None))
    inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
    threading.Thread(target=_receive, args=(conn, inbox), name="koprep-receive", daemon=True).start()
    while (message := inbox.get()) is not None:
        one_by_one, texts = message
        try:
            if one_by_one:
                for text in texts:
                    conn.send(("document", _tokenize(tokenizer, [text], token_filter)))
                conn.send(("done", None))
            else:
                conn.send(("done", _tokenize(tokenizer, texts, token_filter)))
        except BaseException as exc:  # noqa: BLE001 - classified: fatal ones end the process
            if is_fatal(exc):
                detail = f"{type(exc).__name__}: {exc}"[:300]
                print(f"koprep tokenizer worker: {detail}", file=sys.stderr, flush=True)
                conn.send(("fatal", detail))
                os._exit(FATAL_EXIT)
            _send_error(conn, exc)
