"""The client library's version: the distribution's (otel/pyproject.toml reads it from here) and its tracers'."""

__version__ = "0.3.0"
