"""realtime-mock: a local mock-and-conformance server for the OpenAI Realtime API."""

__version__ = "0.1.0"  # the one place the version is written (pyproject reads it)

__all__ = ["__version__"]
