"""LocalStack's entry point with :mod:`resultwriter` applied first (run by the LocalStack of the test session, in
its own Python 3.13 environment): a Distributed Map's ``ResultWriter`` then writes the result files AWS writes."""

import importlib.util
import os
import runpy

# loaded by path: this folder also holds localstack.py, which must not shadow the localstack package
_spec = importlib.util.spec_from_file_location(
    "typedflow_resultwriter", os.path.join(os.path.dirname(os.path.abspath(__file__)), "resultwriter.py")
)
assert _spec is not None and _spec.loader is not None
resultwriter = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(resultwriter)
resultwriter.apply("localstack.services.stepfunctions")
runpy.run_module("localstack.runtime.main", run_name="__main__", alter_sys=True)
