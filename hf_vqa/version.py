"""The package version, in a module of its own so that any room can read it without importing the
package's front door (`hf_vqa/__init__`, which re-exports everything).

Example:
    >>> from hf_vqa.version import __version__
    >>> __version__.count(".")
    2
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
