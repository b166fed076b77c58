"""Package discovery: every package under typedflow/, and under backends/ as typedflow.backends.*.

The metadata is in pyproject.toml. Packages are found here rather than listed there so that a new
subpackage cannot be left out of the wheel (setuptools' own ``find`` cannot rename backends/).
"""

from setuptools import find_packages, setup

PACKAGES = [
    *find_packages(include=["typedflow", "typedflow.*"]),
    *("typedflow." + p for p in find_packages(include=["backends", "backends.*"])),
]

if __name__ == "__main__":  # setuptools runs this file as __main__; a test imports PACKAGES
    setup(packages=sorted(PACKAGES))
