"""Studio: type a sentence, watch a picture come out of the noise, keep everything made."""

import os

__version__ = "0.1.0"

# torch's OpenMP threads spin while they wait for work. On a machine whose cores are busy with
# other programs, spinning threads fight those programs for the cores and a step takes 10 to
# 100 times longer (measured: 2.7-8 s instead of 70 ms per UNet call of the embedded model).
# Passive waiting costs little when the machine is idle. Read once, when torch loads OpenMP,
# so it is set here, before anything imports torch; a value the user set is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
