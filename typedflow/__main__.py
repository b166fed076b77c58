import sys

from typedflow.cli import main

sys.exit(main())
