"""Studio asks torch's OpenMP threads to wait passively (see studio/__init__.py)."""

import os
import subprocess
import sys

PROBE = "import studio, torch, os; print(os.environ.get('OMP_WAIT_POLICY'))"


def _policy(env_value: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if env_value is not None:
        env["OMP_WAIT_POLICY"] = env_value
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_passive_waiting_is_set_before_torch_loads():
    assert _policy(None) == "PASSIVE"


def test_a_policy_the_user_chose_is_kept():
    assert _policy("ACTIVE") == "ACTIVE"
