"""The Step Functions fixtures live in :mod:`tests.support.aws` (registered for the whole suite, so other
folders share the one moto session); these names are imported from here by the tests of this folder."""

from tests.support.aws import ROLE, AslValidator, Aws, Execution, render, run_local

__all__ = ["ROLE", "AslValidator", "Aws", "Execution", "render", "run_local"]
