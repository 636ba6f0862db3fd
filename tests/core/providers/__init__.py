"""Unit tests of the built-in providers (httpx.MockTransport, no network)."""
