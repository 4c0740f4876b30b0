"""Studio: type a sentence, watch a picture come out of the noise, keep everything made."""

__version__ = "0.1.0"
