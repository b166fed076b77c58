"""`const_flows` as the tests import it (tests/vertex is on sys.path): the module tests.vertex.const_flows."""

from tests.vertex.const_flows import *
