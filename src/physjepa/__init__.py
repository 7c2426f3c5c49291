"""physjepa: JEPA world models of the physical world."""

__version__ = "0.1.0"
