"""Package discovery: every package under typedflow/, and under backends/ as typedflow.backends.*.

The metadata is in pyproject.toml. Packages are found here rather than listed there so that a new
subpackage cannot be left out of the wheel (setuptools' own ``find`` cannot rename backends/).
"""

import os

from setuptools import find_packages, setup

# the tree next to this file, not the working directory: the same packages from any cwd
_HERE = os.path.dirname(os.path.abspath(__file__))

PACKAGES = [
    *find_packages(_HERE, include=["typedflow", "typedflow.*"]),
    *("typedflow." + p for p in find_packages(_HERE, include=["backends", "backends.*"])),
]

if __name__ == "__main__":  # setuptools runs this file as __main__; a test imports PACKAGES
    setup(packages=sorted(PACKAGES))
