"""toobig's version, in a module of its own so that any module can name it without importing the
package's API (toobig/__init__ imports every layer)."""

__version__ = "0.1.0"
