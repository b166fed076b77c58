# Stubs for the parts of kfp that typedflow uses (kfp ships no type information). Only what
# typedflow imports is typed; anything else in kfp is left untyped.
from _typeshed import Incomplete

def __getattr__(name: str) -> Incomplete: ...
