"""Jobdock: follows jobs on asynchronous web APIs and saves results before their links expire."""

from importlib import metadata

try:
    __version__ = metadata.version("jobdock")
except metadata.PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+src"
