import sys

from atai_cli.main import main

sys.exit(main())
