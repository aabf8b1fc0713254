"""vtl: cross-task transfer in vision-language models (PGF task transfer and T2T-VICL)."""

__version__ = "0.1.0"
