"""Maps the user's top-level directories into the ``specboard`` namespace.

The directories ``harness/``, ``trainers/``, ``kernels/``, ``leaderboard/`` and
``baselines/`` stay where the user put them, but they are installed as
``specboard.harness``, ``specboard.trainers``, ... because their bare names collide
with PyPI packages (Hugging Face ``kernels``, OpenAI ``baselines``, ...). pyproject.toml
cannot express "every subpackage of this directory under a new prefix", so this file
walks the directories; all other metadata lives in pyproject.toml.
"""

from setuptools import find_packages, setup

TOP_LEVEL = ["harness", "suites", "trainers", "kernels", "leaderboard", "baselines"]

packages: list[str] = []
package_dir: dict[str, str] = {}
for top in TOP_LEVEL:
    package_dir[f"specboard.{top}"] = top
    packages.append(f"specboard.{top}")
    packages += [f"specboard.{top}.{sub}" for sub in find_packages(top)]

setup(packages=packages, package_dir=package_dir)
