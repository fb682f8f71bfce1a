"""Where a store root or a corpus lives: a local path or an fsspec URL (`s3://bucket/prefix`,
`gs://…`, `az://…`), parsed, checked and shown in one place.

- `parse_location` turns what the user typed into a local `Path` or a `RemoteLocation`. A URL whose
  scheme has no installed fsspec filesystem, or a near-URL such as `s3:/bucket` or `s3:bucket`, is
  refused (`LocationError`, exit 2) with the package to install or the spelling to use: never again a
  local folder named `s3:`. A local name that really contains a colon is given as `./name:with:colon`.
- `redact` removes what must never be shown (a `user:secret@` part, signed query strings) from a URL:
  every message, record and log line shows `RemoteLocation.display`, never the URL as typed.
- `RemoteLocation.filesystem()` is the one fsspec filesystem of a location. Credentials come from
  the standard chains of each filesystem (for S3: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
  AWS_ENDPOINT_URL, profiles, instance roles); options that are not secrets (an endpoint, a region)
  may also come from KOPREP_STORAGE_OPTIONS (a JSON object) or a config's `[store]` section
  (`use_config_options`; layered by `storage_options`: `--set store.*` > environment > config file).
  They are held in memory only and never written anywhere; `public_options` is what may be shown.
- `storage_failure` turns what a filesystem raised (missing bucket, denied credentials, unreachable
  endpoint) into a `LocationError` that names the URL (redacted) and the fix.

Nothing here imports fsspec until a URL is actually used, so `koprep --help` stays light.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlsplit, urlunsplit

from koprep.errors import BadInputError

STORAGE_OPTIONS_ENV = "KOPREP_STORAGE_OPTIONS"
LOCAL_SCHEMES = frozenset({"file", "local"})
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):(.*)$", re.DOTALL)
_SECRET_WORDS = "token|secret|key|credential|password"
_SECRET_OPTION = re.compile(f"({_SECRET_WORDS})", re.IGNORECASE)
"""Storage option names whose values are secrets (s3fs key/secret/token, adlfs account_key, gcsfs token...)."""
_SECRET_QUERY_KEYS = re.compile(f"(sig|signature|{_SECRET_WORDS})", re.IGNORECASE)
PACKAGES = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "az": "adlfs", "abfs": "adlfs",
            "abfss": "adlfs"}
"""The package each common scheme's filesystem comes from (fsspec's registry knows the rest)."""


class LocationError(BadInputError):
    """A store root or corpus location that cannot be used: a malformed URL, a scheme without an
    installed filesystem, a missing bucket, denied credentials, an unreachable endpoint."""


@dataclass(frozen=True)
class RemoteLocation:
    """A folder or file on an fsspec filesystem: `protocol` and the path without it (`bucket/prefix`)."""

    protocol: str
    path: str
    options: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    """Storage options passed to the filesystem (never shown, never written)."""

    @property
    def url(self) -> str:
        return f"{self.protocol}://{self.path}"

    @property
    def display(self) -> str:
        """The URL as every message shows it (nothing secret in it: see `redact`)."""
        return redact(self.url)

    def child(self, *parts: str) -> RemoteLocation:
        return RemoteLocation(self.protocol, "/".join([self.path.rstrip("/"), *parts]), self.options)

    def filesystem(self) -> Any:
        return filesystem(self.protocol, self.options)

    def __str__(self) -> str:
        return self.display


def redact(url: str) -> str:
    """`url` without credentials: `user:secret@` and secret-looking query values become `***`."""
    parts = urlsplit(url)
    if not parts.scheme:
        return url
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    query = "&".join(
        f"{key}=***" if _SECRET_QUERY_KEYS.search(key) else pair
        for pair in parts.query.split("&") if pair
        for key in [pair.split("=", 1)[0]]
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def is_url(value: str | os.PathLike[str]) -> bool:
    """Whether `value` is written as a URL or near-URL (`scheme:...`), as opposed to a local path."""
    return isinstance(value, str) and _SCHEME.match(value) is not None and not _is_windows_drive(value)


def _is_windows_drive(value: str) -> bool:
    return len(value) > 1 and value[1] == ":" and len(value.split(":", 1)[0]) == 1


def parse_location(value: str | os.PathLike[str] | RemoteLocation, options: Mapping[str, Any] | None = None) -> Path | RemoteLocation:
    """A local `Path` (plain paths and `file://` URLs) or a `RemoteLocation` whose filesystem is
    installed. Raises LocationError for a malformed URL or a scheme nothing installed handles."""
    if isinstance(value, RemoteLocation):
        return value
    if not isinstance(value, str):
        return Path(value)
    match = _SCHEME.match(value)
    if match is None or _is_windows_drive(value):
        return Path(value)
    scheme, rest = match.group(1).lower(), match.group(2)
    if not rest.startswith("//"):
        fixed = f"{scheme}://{rest.lstrip('/')}"
        raise LocationError(
            f"{redact(value)!r} is not a valid URL (a URL is written {scheme}://bucket/path): did you mean "
            f"{redact(fixed)!r}? A local file or folder whose name has a colon is written ./{value}"
        )
    if scheme in LOCAL_SCHEMES:
        return Path(urlsplit(value).path or rest[2:])
    path = rest[2:]
    parts = urlsplit(value)
    if "@" in parts.netloc:
        raise LocationError(
            f"{redact(value)!r} carries credentials in the URL; remove them and use the standard credential chain "
            "(for S3: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, a profile or an instance role)"
        )
    if not path.strip("/"):
        raise LocationError(f"{redact(value)!r} names no bucket or container: write {scheme}://BUCKET/PREFIX")
    check_protocol(scheme, value)
    return RemoteLocation(scheme, path.rstrip("/"), dict(storage_options() | dict(options or {})))


def check_protocol(scheme: str, value: str) -> None:
    """Refuse a scheme whose fsspec filesystem is not installed, naming the package that provides it."""
    try:
        import fsspec
    except ImportError:
        raise LocationError(
            f"{redact(value)!r} is a URL, and reading URLs needs fsspec and the filesystem for {scheme}://: "
            f"pip install 'koprep[s3]' (or: pip install {PACKAGES.get(scheme, 'fsspec')})"
        ) from None
    try:
        fsspec.get_filesystem_class(scheme)
    except ImportError:
        package = PACKAGES.get(scheme) or _registry_hint(scheme)
        raise LocationError(
            f"no filesystem for {scheme}:// URLs ({redact(value)!r}) is installed: pip install {package}"
        ) from None
    except ValueError:
        raise LocationError(
            f"{redact(value)!r}: {scheme!r} is not a storage URL scheme fsspec knows (s3://, gs://, az://, file://, ...); "
            "for a local path that contains a colon, write ./" + value
        ) from None


def _registry_hint(scheme: str) -> str:
    from fsspec.registry import known_implementations

    message = known_implementations.get(scheme, {}).get("err", "")
    found = re.search(r"[Ii]nstall (\S+)", message)
    return found.group(1).strip("`'\".,") if found else f"the fsspec filesystem for {scheme}://"


_config_layers: tuple[dict[str, Any], dict[str, Any]] = ({}, {})
"""The `[store]` options of the configuration in use: (from the config file, from `--set store.*`)."""


def use_config_options(from_file: Mapping[str, Any], from_command_line: Mapping[str, Any]) -> None:
    """Make a configuration's `[store]` options (already checked to hold no secret, see
    `koprep.config.StoreParams`) this process's: every location parsed afterwards uses them.
    Process-wide, as KOPREP_STORAGE_OPTIONS is, because corpus and store locations are parsed deep
    inside the run; each call replaces the previous configuration's options."""
    global _config_layers
    _config_layers = (dict(from_file), dict(from_command_line))


def storage_options() -> dict[str, Any]:
    """The storage options for a URL, merged key by key (top-level keys):
    `--set store.KEY=...` > KOPREP_STORAGE_OPTIONS (a JSON object) > the config file's `[store]`.
    E.g. {"endpoint_url": "http://minio:9000", "client_kwargs": {"region_name": "..."}}."""
    from_file, from_command_line = _config_layers
    return from_file | _environment_options() | from_command_line


def _environment_options() -> dict[str, Any]:
    raw = os.environ.get(STORAGE_OPTIONS_ENV)
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise LocationError(f"{STORAGE_OPTIONS_ENV} is not a JSON object ({exc}); unset it or fix it") from None
    if not isinstance(value, dict):
        raise LocationError(f"{STORAGE_OPTIONS_ENV} must be a JSON object, not {type(value).__name__}")
    return value


def secret_option_names(options: Mapping[str, Any], prefix: str = "") -> list[str]:
    """The dotted names of the options in `options` (nested tables included) that look like secrets
    (key, secret, token, password, credential, ...): what a config file must not hold."""
    found: list[str] = []
    for name, value in options.items():
        dotted = f"{prefix}{name}"
        if _SECRET_OPTION.search(str(name)):
            found.append(dotted)
        elif isinstance(value, Mapping):
            found.extend(secret_option_names(value, dotted + "."))
    return found


def public_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """`options` without anything secret-looking (see `secret_option_names`): what may be shown."""
    return {
        name: public_options(value) if isinstance(value, Mapping) else value
        for name, value in options.items()
        if not _SECRET_OPTION.search(str(name))
    }


_filesystems: dict[tuple[int, str, str], Any] = {}
"""Keyed by process id too: a forked child must not use its parent's client (its event loop is the parent's)."""


def filesystem(protocol: str, options: Mapping[str, Any]) -> Any:
    """One filesystem per (protocol, options) in this process. For S3 the endpoint comes from
    AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL when the options do not name one, as every AWS SDK does."""
    import fsspec

    opts = dict(options)
    if protocol in ("s3", "s3a"):
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        if endpoint and "endpoint_url" not in opts and "endpoint_url" not in opts.get("client_kwargs", {}):
            opts["endpoint_url"] = endpoint
        # No listing cache: a GET must see what another process wrote since this one last listed
        # (correctness never rests on a listing: an entry is what its committed manifest says).
        opts.setdefault("use_listings_cache", False)
        opts.setdefault("config_kwargs", {"connect_timeout": 5, "read_timeout": 60,
                                          "retries": {"max_attempts": 3, "mode": "standard"}})
    key = (os.getpid(), protocol, json.dumps(opts, sort_keys=True, default=str))
    if key not in _filesystems:
        _filesystems[key] = fsspec.filesystem(protocol, skip_instance_cache=True, **opts)
    return _filesystems[key]


def storage_failure(location: RemoteLocation | str, exc: BaseException, doing: str) -> LocationError:
    """What a filesystem raised while `doing` something at `location`, as a message with the fix."""
    where = location.display if isinstance(location, RemoteLocation) else redact(location)
    text = f"{type(exc).__name__}: {exc}"
    lowered = text.lower()
    if isinstance(exc, PermissionError) or any(
        word in lowered for word in ("accessdenied", "access denied", "invalidaccesskeyid", "signaturedoesnotmatch",
                                     "forbidden", "403")
    ):
        fix = ("the credentials were refused: check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or the profile) and "
               "that they may read and write this bucket")
    elif "nosuchbucket" in lowered or "bucket" in lowered and "not" in lowered:
        fix = "the bucket does not exist: create it, or correct the URL"
    elif isinstance(exc, FileNotFoundError):
        fix = "no such object or bucket: check the URL"
    elif any(word in lowered for word in ("connect", "endpoint", "timeout", "timed out", "resolve", "unreachable")):
        fix = ("the storage endpoint cannot be reached: check AWS_ENDPOINT_URL (or the storage options' endpoint) "
               "and the network")
    else:
        fix = "check the URL, the credentials and the endpoint"
    return LocationError(f"cannot {doing} {where}: {fix} ({_scrub(_first_line(text))})")


def _first_line(text: str) -> str:
    return text.splitlines()[0] if text else text


def _scrub(text: str) -> str:
    """Remove anything secret-looking (keys given in the environment, signed URLs) from library text."""
    for name in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID"):
        secret = os.environ.get(name)
        if secret:
            text = text.replace(secret, "***")
    return re.sub(r"https?://\S+", lambda m: redact(m.group(0)), text)
