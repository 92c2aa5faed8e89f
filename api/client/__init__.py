"""The Python client SDK (`LedgerClient`) and a log monitor that checks what the server says."""

from api.client.sdk import LedgerClient, LedgerClientError

__all__ = ["LedgerClient", "LedgerClientError"]
