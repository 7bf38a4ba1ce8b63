"""clue: the CLUE clinical language-understanding benchmark as a pytest release gate."""

__version__ = "0.1.0"
