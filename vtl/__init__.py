"""vtl: cross-task transfer in vision-language models (PGF task transfer and T2T-VICL)."""

import logging

__version__ = "0.1.0"

# bitsandbytes (imported by peft on every fit, quantized or not) tries to fetch an optional CPU kernel from the hub
# and logs a warning when it cannot; offline, and with its built-in CPU path as the fallback, that is expected.
logging.getLogger("bitsandbytes.backends.cpu.ops").addFilter(
    lambda record: not record.getMessage().startswith("Failed to load CPU gemm_4bit_forward")
)
