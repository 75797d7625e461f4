"""Client settings: the address, the API key, TLS, the deadline and the retry policy."""

from __future__ import annotations

import os
import random
from typing import Any, List, Optional, Sequence, Tuple, Union

import grpc

from ._version import __version__

DEFAULT_ADDR = "127.0.0.1:9100"
DEFAULT_TIMEOUT = 30.0
API_KEY_HEADER = "x-api-key"

Certs = Union[bytes, str, "os.PathLike[str]", None]


def _read_pem(value: Certs, what: str) -> Optional[bytes]:
    """PEM bytes, PEM text, or the path of a PEM file."""
    if value is None:
        return None
    if isinstance(value, bytes):
        return value
    text = os.fspath(value)
    if "-----BEGIN" in text:
        return text.encode()
    try:
        with open(text, "rb") as f:
            return f.read()
    except OSError as e:
        raise ValueError(f"{what}: cannot read {text!r}: {e}") from e


class Config:
    """The resolved settings of a client (see :class:`engram.Engram` for the arguments)."""

    def __init__(
        self,
        addr: Optional[str] = None,
        api_key: Optional[str] = None,
        *,
        tls: Optional[bool] = None,
        root_certificates: Certs = None,
        private_key: Certs = None,
        certificate_chain: Certs = None,
        tls_server_name: Optional[str] = None,
        timeout: Optional[float] = DEFAULT_TIMEOUT,
        retries: int = 3,
        backoff: float = 0.1,
        max_backoff: float = 2.0,
        metadata: Sequence[Tuple[str, str]] = (),
        channel_options: Sequence[Tuple[str, Any]] = (),
    ) -> None:
        target = addr or os.environ.get("ENGRAM_ADDR") or DEFAULT_ADDR
        scheme_tls = None
        if "://" in target:
            scheme, target = target.split("://", 1)
            scheme = scheme.lower()
            if scheme in ("https", "grpcs"):
                scheme_tls = True
            elif scheme in ("http", "grpc"):
                scheme_tls = False
            else:
                raise ValueError(f"addr: unknown scheme {scheme!r} (use host:port, http:// or https://)")
            target = target.split("/", 1)[0]
        self.target = target
        key = api_key if api_key is not None else os.environ.get("ENGRAM_API_KEY")
        self.api_key = key or None
        self.root_certificates = _read_pem(root_certificates, "root_certificates")
        self.private_key = _read_pem(private_key, "private_key")
        self.certificate_chain = _read_pem(certificate_chain, "certificate_chain")
        if tls is None:
            tls = bool(scheme_tls) or self.root_certificates is not None or self.certificate_chain is not None
        elif not tls and (self.root_certificates or self.certificate_chain):
            raise ValueError("tls=False with certificates: drop them or set tls=True")
        self.tls = tls
        if timeout is not None and timeout <= 0:
            raise ValueError("timeout must be positive (or None for no deadline)")
        self.timeout = timeout
        if retries < 0:
            raise ValueError("retries must be 0 or more")
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        md: List[Tuple[str, str]] = []
        if self.api_key:
            md.append((API_KEY_HEADER, self.api_key))
        md.extend((k.lower(), v) for k, v in metadata)
        self.metadata = tuple(md)
        options: List[Tuple[str, Any]] = [
            ("grpc.primary_user_agent", f"engram-client-python/{__version__}"),
            ("grpc.max_receive_message_length", 64 * 1024 * 1024),
        ]
        if tls_server_name:
            options.append(("grpc.ssl_target_name_override", tls_server_name))
            options.append(("grpc.default_authority", tls_server_name))
        options.extend(channel_options)
        self.options = options

    def credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            root_certificates=self.root_certificates,
            private_key=self.private_key,
            certificate_chain=self.certificate_chain,
        )

    def delays(self) -> List[float]:
        """The sleeps before each retry: exponential backoff with jitter (half to full)."""
        out = []
        delay = self.backoff
        for _ in range(self.retries):
            out.append(random.uniform(delay / 2, delay))
            delay = min(delay * 2, self.max_backoff)
        return out

    def call_timeout(self, timeout: Any) -> Optional[float]:
        return self.timeout if timeout is _DEFAULT else timeout


class _Default:
    def __repr__(self) -> str:
        return "DEFAULT"


#: "the client's timeout" (a call argument left out)
_DEFAULT: Any = _Default()


def is_unavailable(err: grpc.RpcError) -> bool:
    code = err.code() if hasattr(err, "code") else None
    return bool(code == grpc.StatusCode.UNAVAILABLE)
