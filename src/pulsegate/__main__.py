import sys

from pulsegate.cli import main

sys.exit(main())
