"""``python -m specboard.harness.sandbox``: which mode would code suites use here?"""

import sys

from specboard.harness.sandbox import Limits, SandboxUnavailableError, run_python, sandbox_mode

try:
    chosen = sandbox_mode()
except SandboxUnavailableError as exc:
    print(exc, file=sys.stderr)
    raise SystemExit(1) from None
check = run_python("import os\nprint(os.getuid())\n", limits=Limits(cpu_s=5, wall_s=20))
print(f"sandbox mode: {chosen} (program ran as uid {check.stdout.strip()}, status {check.status})")
