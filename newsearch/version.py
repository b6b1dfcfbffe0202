"""The version of newsearch, in a module of its own so that any layer can read it without
importing the package root (setup.cfg reads it from here too)."""

__version__ = "0.1.0"
