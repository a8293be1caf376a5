"""emhnet-lite: a teaching and reproducibility kit for EMHNet micro-expression recognition.

The package is the single source of truth; the notebooks in ``notebooks/`` import it.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
