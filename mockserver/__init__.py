"""realtime-mock: a local mock-and-conformance server for the OpenAI Realtime API."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("realtime-mock")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

__all__ = ["__version__"]
