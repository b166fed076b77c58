"""`kfp_harness` as the tests import it (tests/vertex is on sys.path): the module tests.vertex.kfp_harness."""

from tests.vertex.kfp_harness import *
