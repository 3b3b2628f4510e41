"""Run the CLI as ``python -m probe`` (this is also how ``torchrun -m probe train`` enters)."""
import sys

from probe.cli import main

sys.exit(main())
