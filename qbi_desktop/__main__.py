import sys

from qbi_desktop.cli import main

sys.exit(main())
