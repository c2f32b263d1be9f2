import sys

from diary.cli import main

sys.exit(main())
