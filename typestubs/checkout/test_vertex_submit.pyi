"""`test_vertex_submit` as the tests import it (tests/vertex is on sys.path): the module tests.vertex.test_vertex_submit."""

from tests.vertex.test_vertex_submit import *
